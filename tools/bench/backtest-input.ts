import { closeSync, openSync, readSync } from 'node:fs';
import { readDocs } from '../../pipeline/rules/input.js';

// How fast `rules backtest` reads its input, against the floor any JSONL
// reader has: a bare loop that reads the same file in large chunks, splits it
// into lines and JSON.parses each one, with no checks. Both are measured in
// CPU seconds of this process (the machine is shared), runs interleaved.

export interface InputBenchResult {
  docs: number;
  /** Documents per CPU-second through readDocs (what the backtest iterates). */
  readDocsPerCpuSec: number;
  /** Lines per CPU-second through the bare JSON.parse loop. */
  bareJsonParsePerCpuSec: number;
  /** readDocs / bare loop (goal: at least 0.5). */
  ratio: number;
}

const cpuSec = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

/** The floor: read, split, JSON.parse; stops after `max` lines. */
function bareLoop(file: string, max: number): number {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  let carry = '';
  let n = 0;
  try {
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      const text = carry + buf.toString('utf8', 0, got);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1 && n < max; nl = text.indexOf('\n', start)) {
        try {
          JSON.parse(text.slice(start, nl));
        } catch (err) {
          throw new Error(`bench backtest: ${file}:${n + 1} is not JSON (${(err as Error).message}); the input benchmark needs a file of documents only, without blank or bad lines`);
        }
        n++;
        start = nl + 1;
      }
      if (n >= max) break;
      carry = text.slice(start);
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

async function viaReadDocs(file: string, max: number): Promise<number> {
  let n = 0;
  for await (const d of readDocs(file)) {
    if (d.event === undefined) throw new Error(`bench backtest: document ${n + 1} has no event`);
    if (++n >= max) break;
  }
  return n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Reads the first `max` documents of `file` both ways, `runs` times each. */
export async function benchBacktestInput(file: string, max = 200_000, runs = 3): Promise<InputBenchResult> {
  const ours: number[] = [];
  const bare: number[] = [];
  let docs = 0;
  for (let r = 0; r < runs; r++) {
    let c0 = process.cpuUsage();
    const nb = bareLoop(file, max);
    bare.push(nb / cpuSec(process.cpuUsage(c0)));
    c0 = process.cpuUsage();
    docs = await viaReadDocs(file, max);
    ours.push(docs / cpuSec(process.cpuUsage(c0)));
    if (docs !== nb) throw new Error(`bench backtest: readDocs gave ${docs} documents, the bare loop ${nb} lines; the file has blank or bad lines`);
  }
  const a = median(ours);
  const b = median(bare);
  return { docs, readDocsPerCpuSec: Math.round(a), bareJsonParsePerCpuSec: Math.round(b), ratio: Number((a / b).toFixed(2)) };
}
