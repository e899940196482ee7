import { describe, expect, it } from 'vitest';
import { dueRecords, highestSustained, judge, nextRate, percentile, summarise, type RunCounts } from './e2e-core.js';

describe('dueRecords (pacing)', () => {
  it('keeps the sent count on the asked rate', () => {
    expect(dueRecords(1000, 0, 0, 10_000)).toBe(0);
    expect(dueRecords(1000, 20, 0, 10_000)).toBe(20);
    expect(dueRecords(1000, 1000, 980, 10_000)).toBe(20);
    expect(dueRecords(333, 3000, 0, 10_000)).toBe(999);
  });

  it('never asks for a negative count when ahead', () => {
    expect(dueRecords(1000, 500, 700, 10_000)).toBe(0);
  });

  it('catches up in bounded bursts after a stall', () => {
    // 2 s behind at 20,000/s is 40,000 records; each send is capped.
    expect(dueRecords(20_000, 2000, 0, 10_000)).toBe(10_000);
    let sent = 0;
    const sends: number[] = [];
    for (let i = 0; i < 10 && sent < 40_000; i++) {
      const n = dueRecords(20_000, 2000, sent, 10_000);
      sends.push(n);
      sent += n;
    }
    expect(sends).toEqual([10_000, 10_000, 10_000, 10_000]);
  });

  it('sends exactly rate × seconds over a paced run', () => {
    let sent = 0;
    for (let t = 0; t <= 5000; t += 20) sent += dueRecords(2500, t, sent, 1250);
    expect(sent).toBe(12_500);
  });
});

describe('percentile and summarise', () => {
  it('uses the nearest rank', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 0.5)).toBe(50);
    expect(percentile(s, 0.99)).toBe(99);
    expect(percentile(s, 1)).toBe(100);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('sorts before summarising and reports the max', () => {
    expect(summarise([3, 1, 2, 10, 4])).toEqual({ samples: 5, p50: 3, p99: 10, max: 10 });
    expect(summarise([]).samples).toBe(0);
  });
});

const ok: RunCounts = { rate: 1000, achievedRate: 1000, produced: 60_000, indexed: 60_000, samplesMissing: 0, drainS: 1.2, latency: { samples: 3000, p50: 1.1, p99: 2.4, max: 2.9 } };

describe('judge (sustained or not)', () => {
  it('accepts a run with nothing lost and every record within the lag bound', () => {
    expect(judge(ok, { maxLagS: 10 })).toEqual({ sustained: true, reasons: [] });
  });

  it('names each reason a run failed', () => {
    expect(judge({ ...ok, indexed: 59_999 }, { maxLagS: 10 }).reasons).toEqual(['1 of 60000 records not searchable after the drain']);
    expect(judge({ ...ok, samplesMissing: 2 }, { maxLagS: 10 }).reasons).toEqual(['2 sampled records never became searchable']);
    expect(judge({ ...ok, achievedRate: 900 }, { maxLagS: 10 }).reasons).toEqual(['producer reached 900/s of 1000/s asked']);
    expect(judge({ ...ok, drainS: Number.NaN }, { maxLagS: 10 }).reasons).toEqual(['backlog took longer than the drain timeout to clear after production stopped (limit 10 s)']);
    expect(judge({ ...ok, drainS: 12 }, { maxLagS: 10 }).sustained).toBe(false);
    expect(judge({ ...ok, latency: { ...ok.latency, max: 10.5 } }, { maxLagS: 10 }).reasons).toEqual(['slowest sampled record searchable after 10.50 s (limit 10 s)']);
  });

  it('fails a run without latency samples (nothing proves the lag bound)', () => {
    expect(judge({ ...ok, latency: { samples: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN } }, { maxLagS: 10 }).sustained).toBe(false);
  });
});

describe('nextRate (step search)', () => {
  const o = { start: 2000, maxSteps: 8 };
  const run = (pass: (rate: number) => boolean) => {
    const h: Array<{ rate: number; sustained: boolean }> = [];
    for (let r = nextRate(h, o); r !== undefined; r = nextRate(h, o)) h.push({ rate: r, sustained: pass(r) });
    return h;
  };

  it('doubles while sustained, then bisects to within the resolution', () => {
    const h = run((r) => r <= 11_000);
    expect(h.map((x) => x.rate)).toEqual([2000, 4000, 8000, 16_000, 12_000, 10_000, 11_000]);
    expect(highestSustained(h)).toBe(11_000);
  });

  it('is bounded by maxSteps', () => {
    const h = run(() => true);
    expect(h).toHaveLength(8);
    expect(h.at(-1)!.rate).toBe(256_000);
  });

  it('halves when even the first rate fails, and gives up below 100/s', () => {
    const h = run(() => false);
    expect(h.map((x) => x.rate)).toEqual([2000, 1000, 500, 250, 125]);
    expect(highestSustained(h)).toBeUndefined();
  });
});
