import { describe, expect, it } from 'vitest';
import { EventClock } from './clock.js';

// The watermark behind which the SLO judgement runs.

function clock(wall: { t: number }) {
  return new EventClock({ idleMs: 60_000, maxAheadMs: 600_000, now: () => wall.t });
}

describe('EventClock', () => {
  it('holds the watermark at the slowest host still sending, whatever the fastest has seen', () => {
    const wall = { t: 1_000_000 };
    const c = clock(wall);
    c.observe('a', 5_000);
    c.observe('b', 2_000);
    c.observe('a', 9_000);
    expect(c.watermark()).toBe(2_000);
    expect(c.newestMs()).toBe(9_000);
    c.observe('b', 7_000);
    expect(c.watermark()).toBe(7_000);
  });

  it('lets a host that sent nothing for idleMs while others did stop holding them back, and takes it back when it sends again', () => {
    const wall = { t: 1_000_000 };
    const c = clock(wall);
    c.observe('quiet', 1_000);
    let t = 50_000;
    // 'busy' sends every second for 59 s: 'quiet' still holds the watermark...
    for (let i = 0; i < 59; i++) {
      wall.t += 1_000;
      c.observe('busy', (t += 1_000));
    }
    expect(c.watermark()).toBe(1_000);
    // ...and after a minute of others' records it is idle.
    wall.t += 2_000;
    c.observe('busy', (t += 1_000));
    expect(c.watermark()).toBe(t);
    c.observe('quiet', 2_000);
    expect(c.watermark()).toBe(2_000);
  });

  it('does not take a pause of the whole pipeline for every host going idle', () => {
    const wall = { t: 1_000_000 };
    const c = clock(wall);
    c.observe('a', 1_000);
    c.observe('b', 2_000);
    // Ten minutes without any record (Elasticsearch down, a rebalance): then 'b' resumes first.
    wall.t += 10 * 60_000;
    c.observe('b', 90_000);
    expect(c.watermark()).toBe(1_000);
  });

  it('does not count event-time lag as idleness: a host behind in event time but still sending holds the watermark', () => {
    const wall = { t: 1_000_000 };
    const c = clock(wall);
    c.observe('slow', 0);
    c.observe('fast', 3 * 3_600_000);
    expect(c.watermark()).toBe(0);
  });

  it('refuses records dated further ahead of the wall clock than maxAheadMs', () => {
    const wall = { t: Date.parse('2026-01-01T00:00:00Z') };
    const c = clock(wall);
    expect(c.isFuture(wall.t + 600_000)).toBe(false);
    expect(c.isFuture(wall.t + 600_001)).toBe(true);
  });

  it('takes a watermark vouched by a time-ordered reader, and never moves back', () => {
    const wall = { t: 1_000_000 };
    const c = clock(wall);
    c.observe('a', 1_000);
    c.vouch(5_000);
    expect(c.watermark()).toBe(5_000);
    c.vouch(3_000);
    expect(c.watermark()).toBe(5_000);
  });

  it('restores its hosts as just heard from', () => {
    const wall = { t: 1_000_000 };
    const c = clock(wall);
    c.observe('a', 1_000);
    c.observe('b', 4_000);
    wall.t += 10 * 60_000;
    const back = clock(wall);
    back.restore(JSON.parse(JSON.stringify(c.snapshot())), c.newestMs());
    expect(back.watermark()).toBe(1_000);
    expect(back.newestMs()).toBe(4_000);
  });
});
