import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lastLines, ServiceError } from './errors.js';

describe('ServiceError.report', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the service, the step, the log file and shows its last lines', () => {
    dir = mkdtempSync(join(tmpdir(), 'err-'));
    const log = join(dir, 'server.log');
    writeFileSync(log, `${Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n')}\n`);
    const e = new ServiceError('kafka', 'wait for health', 'the broker process exited', log, 'remove .run/kafka');
    const r = e.report(20);
    expect(r.split('\n')[0]).toBe("kafka: step 'wait for health' failed: the broker process exited");
    expect(r).toContain(`log: ${log}`);
    expect(r).toContain('line 11\n');
    expect(r).toContain('line 30');
    expect(r).not.toContain('line 10\n');
    expect(e.hint).toBe('remove .run/kafka');
  });

  it('says so when the log is missing', () => {
    dir = mkdtempSync(join(tmpdir(), 'err-'));
    expect(new ServiceError('elasticsearch', 'start', 'x', join(dir, 'nope.log'), 'h').report()).toContain('(the log is empty or missing)');
  });
});

describe('lastLines', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads only the end of a large file', () => {
    dir = mkdtempSync(join(tmpdir(), 'err-'));
    const f = join(dir, 'big.log');
    writeFileSync(f, `${'x'.repeat(200_000)}\nsecond to last\nlast\n`);
    expect(lastLines(f, 2)).toEqual(['second to last', 'last']);
  });
});
