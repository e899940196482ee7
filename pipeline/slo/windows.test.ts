import { describe, expect, it } from 'vitest';
import { BucketRing, CellRing } from './windows.js';

// The running sums must equal a brute-force count over the raw events, for
// any arrival order that stays within the ring, including late events and
// gaps longer than a window.

function rng(seed: number): () => number {
  let a = seed;
  return () => ((a = (a * 1103515245 + 12345) % 2147483648) / 2147483648);
}

describe('BucketRing', () => {
  it('keeps every window sum equal to a brute-force count', () => {
    const r = rng(7);
    const windows = [5, 30, 60];
    const ring = new BucketRing(60_000, windows);
    const events: Array<{ t: number; bad: boolean }> = [];
    let now = 0;
    for (let i = 0; i < 4000; i++) {
      // Mostly forward, sometimes late by up to 20 minutes, sometimes a 2h gap.
      const jump = r() < 0.002 ? 7_200_000 : r() * 40_000;
      const t = r() < 0.1 ? Math.max(0, now - r() * 1_200_000) : (now += jump);
      const bad = r() < 0.2;
      if (ring.add(t, bad)) events.push({ t, bad });
      if (i % 97 === 0) {
        const head = Math.floor(now / 60_000);
        windows.forEach((w, k) => {
          const inWin = events.filter((e) => Math.floor(e.t / 60_000) > head - w && Math.floor(e.t / 60_000) <= head);
          expect(ring.sum(k)).toEqual({ total: inWin.length, bad: inWin.filter((e) => e.bad).length });
        });
      }
    }
  });

  it('refuses events older than the longest window and rebuilds the same sums from a snapshot', () => {
    const ring = new BucketRing(60_000, [5, 60]);
    for (let m = 0; m < 90; m++) ring.add(m * 60_000, m % 3 === 0);
    expect(ring.add(10 * 60_000, true)).toBe(false);
    const copy = new BucketRing(60_000, [5, 60]);
    copy.restore(JSON.parse(JSON.stringify(ring.snapshot())));
    expect([copy.sum(0), copy.sum(1)]).toEqual([ring.sum(0), ring.sum(1)]);
    expect(ring.sum(1)).toEqual({ total: 60, bad: 20 });
  });
});

describe('CellRing', () => {
  it('caps the cells per bucket and folds the rest into one overflow cell', () => {
    const cells = new CellRing(300_000, 12, 4);
    for (let i = 0; i < 10; i++) cells.add(1000, `k${i}`);
    const t = cells.totals(3_600_000);
    expect(t.size).toBe(5);
    expect(t.get(CellRing.OVERFLOW)).toBe(6);
  });

  it('forgets buckets that slid out of the window', () => {
    const cells = new CellRing(300_000, 12);
    cells.add(0, 'old');
    cells.add(3_600_000, 'new');
    expect([...cells.totals(3_600_000).keys()]).toEqual(['new']);
  });
});
