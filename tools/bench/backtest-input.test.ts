import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthDoc } from '../gen/synth.js';
import { benchBacktestInput } from './backtest-input.js';

// The input benchmark's bookkeeping: both readers see the same documents, and
// a file the backtest would read differently (a blank line) is refused rather
// than compared unfairly.

const dir = mkdtempSync(join(tmpdir(), 'connaudit-input-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench backtest input', () => {
  const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify(synthDoc({ t: i, host: 'h1', src: '10.0.0.1', dst: '10.0.0.2', dport: 443 })));

  it('reads the same documents both ways and reports the ratio of their rates', async () => {
    const f = join(dir, 'ok.jsonl');
    writeFileSync(f, `${lines.join('\n')}\n`);
    const r = await benchBacktestInput(f, 250, 2);
    expect(r.docs).toBe(250);
    expect(r.readDocsPerCpuSec).toBeGreaterThan(0);
    expect(r.bareJsonParsePerCpuSec).toBeGreaterThan(0);
    expect(r.ratio).toBeCloseTo(r.readDocsPerCpuSec / r.bareJsonParsePerCpuSec, 1);
  });

  it('refuses a file with blank lines, where the two would count different things', async () => {
    const f = join(dir, 'blank.jsonl');
    writeFileSync(f, `${lines[0]}\n\n${lines[1]}\n`);
    await expect(benchBacktestInput(f, 10, 1)).rejects.toThrow(/blank or bad lines/);
  });
});
