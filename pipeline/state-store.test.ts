import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore } from './state-store.js';

describe('StateStore', () => {
  it('round-trips a snapshot, throttles writes, and leaves no temp file behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-state-'));
    const s = new StateStore(join(dir, 'g'), 'default.primary', 1000);
    expect(s.load()).toBeUndefined();
    expect(s.save({ group: 'g', partitions: { t: [0, 1] }, stages: { rules: { n: 1 } } }, 10_000)).toBe(true);
    expect(s.save({ group: 'g', partitions: {}, stages: { rules: { n: 2 } } }, 10_500)).toBe(false);
    expect(s.load()).toMatchObject({ group: 'g', partitions: { t: [0, 1] }, stages: { rules: { n: 1 } } });
    expect(s.save({ group: 'g', partitions: {}, stages: { rules: { n: 3 } } }, 10_600, true)).toBe(true);
    expect(s.load()!.stages).toEqual({ rules: { n: 3 } });
    expect(readdirSync(join(dir, 'g'))).toEqual(['default.primary.state.json']);
  });

  it('names the file when the state is corrupt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-state-'));
    const s = new StateStore(dir, 'x', 0);
    writeFileSync(s.file, '{ nope');
    expect(() => s.load()).toThrow(`${s.file}: stage state is not valid JSON`);
  });
});
