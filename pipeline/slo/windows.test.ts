import { describe, expect, it } from 'vitest';
import { rng } from '../../tools/gen/rng.js';
import { Fenwick } from './fenwick.js';
import { BucketRing, CellRing } from './windows.js';

// Window sums must equal a brute-force count over the raw events, for any
// arrival order that stays within the ring, including late events, gaps
// longer than a window, and windows that end before the newest bucket.

describe('Fenwick', () => {
  it('answers prefix sums and slot values, and load()/values() are inverse', () => {
    const r = rng(3);
    const f = new Fenwick(37);
    const raw = new Array<number>(37).fill(0);
    for (let i = 0; i < 500; i++) {
      const s = Math.floor(r() * 37);
      const v = Math.floor(r() * 10) - 3;
      f.add(s, v);
      raw[s]! += v;
    }
    for (let s = -1; s < 37; s++) expect(f.prefix(s)).toBe(raw.slice(0, s + 1).reduce((a, b) => a + b, 0));
    expect([...f.values()]).toEqual(raw);
    const g = new Fenwick(37);
    g.load(raw);
    for (let s = 0; s < 37; s++) expect(g.get(s)).toBe(raw[s]);
  });
});

describe('BucketRing', () => {
  it('keeps every window sum, ending at any kept bucket, equal to a brute-force count', () => {
    const r = rng(7);
    const windows = [5, 30, 60];
    const ring = new BucketRing(60_000, windows, 45);
    const events: Array<{ t: number; bad: boolean }> = [];
    let now = 0;
    for (let i = 0; i < 4000; i++) {
      // Mostly forward, often late by up to 90 minutes (beyond the lateness), sometimes a 2h gap.
      const jump = r() < 0.002 ? 7_200_000 : r() * 40_000;
      const t = r() < 0.3 ? Math.max(0, now - r() * 5_400_000) : (now += jump);
      const bad = r() < 0.2;
      if (ring.add(t, bad)) events.push({ t, bad });
      if (i % 97 === 0) {
        const head = Math.floor(now / 60_000);
        const kept = events.filter((e) => Math.floor(e.t / 60_000) > head - ring.size);
        // As of the newest bucket and as of a few older ones, across the ring's wrap.
        for (const end of [head, head - 1, head - 17, head - 45, head - 100]) {
          windows.forEach((w, k) => {
            const inWin = kept.filter((e) => Math.floor(e.t / 60_000) > end - w && Math.floor(e.t / 60_000) <= end);
            expect(ring.sum(k, end * 60_000 + 59_999), `window ${w} ending at ${end} (head ${head})`).toEqual({ total: inWin.length, bad: inWin.filter((e) => e.bad).length });
          });
        }
      }
    }
  });

  it('counts late events while their bucket is kept, refuses older ones, and rebuilds the same sums from a snapshot', () => {
    const ring = new BucketRing(60_000, [5, 60], 60);
    expect(ring.size).toBe(120);
    for (let m = 0; m < 90; m++) ring.add(m * 60_000, m % 3 === 0);
    // 80 minutes late: more than the longest window, still within the lateness kept.
    expect(ring.add(10 * 60_000, true)).toBe(true);
    expect(ring.sum(1, 10 * 60_000)).toEqual({ total: 12, bad: 5 });
    ring.advance(200 * 60_000);
    expect(ring.add(80 * 60_000, true)).toBe(false);
    for (let m = 150; m <= 200; m++) ring.add(m * 60_000, m % 2 === 0);
    const copy = new BucketRing(60_000, [5, 60], 60);
    copy.restore(JSON.parse(JSON.stringify(ring.snapshot())));
    for (const at of [undefined, 170 * 60_000, 100 * 60_000]) {
      expect([copy.sum(0, at), copy.sum(1, at)]).toEqual([ring.sum(0, at), ring.sum(1, at)]);
    }
    expect(ring.sum(1)).toEqual({ total: 51, bad: 26 });
    // Minutes 41..89 of that window are forgotten (kept: 81..200); only 81..89 count.
    expect(ring.sum(1, 100 * 60_000)).toEqual({ total: 9, bad: 3 });
  });

  it('restores a snapshot of a smaller ring (state version 1 kept only the longest window)', () => {
    const old = { head: 99, buckets: [[40, 3, 1], [98, 2, 2], [99, 5, 0]] as Array<[number, number, number]> };
    const ring = new BucketRing(60_000, [5, 60], 60);
    ring.restore(old);
    expect(ring.sum(1)).toEqual({ total: 10, bad: 3 });
    expect(ring.sum(0)).toEqual({ total: 7, bad: 2 });
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

  it('sums the window ending at a past time, including cells that arrived late', () => {
    const cells = new CellRing(300_000, 24);
    cells.add(3_600_000, 'new');
    cells.add(600_000, 'late');
    cells.add(0, 'older');
    expect(Object.fromEntries(cells.totals(900_000, 600_000))).toEqual({ late: 1, older: 1 });
    expect(Object.fromEntries(cells.totals(300_000, 600_000))).toEqual({ late: 1 });
    expect(Object.fromEntries(cells.totals(3_600_000))).toEqual({ new: 1, late: 1 });
  });
});
