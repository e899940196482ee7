import { describe, expect, it } from 'vitest';
import { parseConfig } from './enrich/config.js';
import { sourceKey, watermarkOptions, Watermarks } from './watermark.js';

// The watermark over a hand-driven wall clock: event time from records,
// idleness from wall time and lag, processing time once all are idle.

const T0 = Date.parse('2026-01-05T10:00:00Z');
const S = 1000;

function setup(idleS = 30, latenessS = 5) {
  let wall = T0;
  const wm = new Watermarks({ idleTimeoutMs: idleS * S, allowedLatenessMs: latenessS * S, now: () => wall });
  return { wm, pass: (ms: number) => { wall += ms; }, wall: () => wall };
}

describe('Watermarks', () => {
  it('is null before any record, then the newest event time minus the allowed lateness', () => {
    const { wm } = setup();
    expect(wm.advance()).toMatchObject({ ms: null, allIdle: false, partitions: 0 });
    wm.observe('t:0', T0 - 60 * S);
    wm.observe('t:0', T0 - 20 * S);
    wm.observe('t:0', T0 - 40 * S);
    expect(wm.advance().ms).toBe(T0 - 25 * S);
  });

  it('is the minimum over the partitions still sending', () => {
    const { wm } = setup();
    wm.observe('t:0', T0 - 10 * S);
    wm.observe('t:1', T0 - 100 * S);
    expect(wm.advance().ms).toBe(T0 - 105 * S);
    wm.observe('t:1', T0 - 50 * S);
    expect(wm.advance().ms).toBe(T0 - 55 * S);
  });

  it('never goes back when a slower partition joins', () => {
    const { wm } = setup();
    wm.observe('t:0', T0 - 10 * S);
    expect(wm.advance().ms).toBe(T0 - 15 * S);
    wm.observe('t:1', T0 - 300 * S);
    expect(wm.advance().ms).toBe(T0 - 15 * S);
    expect(wm.isLate(T0 - 300 * S)).toBe(true);
    expect(wm.isLate(T0 - 15 * S)).toBe(false);
  });

  it('an idle partition stops holding the others back', () => {
    const { wm, pass } = setup(30);
    wm.observe('t:0', T0 - 100 * S);
    wm.observe('t:1', T0 - 100 * S);
    pass(20 * S);
    wm.observe('t:1', T0 - 50 * S);
    expect(wm.advance().ms).toBe(T0 - 105 * S);
    pass(15 * S); // t:0 silent for 35 s, t:1 for 15 s
    wm.observe('t:1', T0 - 40 * S);
    expect(wm.advance()).toMatchObject({ ms: T0 - 45 * S, allIdle: false, idlePartitions: 1 });
  });

  it('a partition with unread records (lag > 0) is not idle however long it is silent', () => {
    const { wm, pass } = setup(30);
    wm.observe('t:0', T0 - 100 * S);
    wm.lag('t:0', 12);
    pass(120 * S);
    expect(wm.advance()).toMatchObject({ ms: T0 - 105 * S, allIdle: false, idlePartitions: 0 });
    wm.lag('t:0', 0);
    expect(wm.advance()).toMatchObject({ ms: T0 + 120 * S - 5 * S, allIdle: true, idlePartitions: 1 });
  });

  it('once every partition is idle it follows the wall clock minus the lateness (a quiet fleet closes its windows)', () => {
    const { wm, pass, wall } = setup(30, 5);
    wm.observe('t:0', T0 - 3600 * S);
    wm.observe('t:1', T0 - 1800 * S);
    pass(29 * S);
    expect(wm.advance()).toMatchObject({ ms: T0 - 3605 * S, allIdle: false });
    pass(1 * S);
    expect(wm.advance()).toMatchObject({ ms: wall() - 5 * S, allIdle: true, idlePartitions: 2 });
    pass(10 * S);
    expect(wm.advance().ms).toBe(wall() - 5 * S);
  });

  it('does not advance by processing time while the consumer is stalled', () => {
    const { wm, pass } = setup(30, 5);
    wm.observe('t:0', T0 - 3600 * S);
    pass(300 * S);
    expect(wm.advance(true)).toMatchObject({ ms: T0 - 3605 * S, allIdle: false });
    expect(wm.advance(false).ms).toBe(T0 + 300 * S - 5 * S);
  });

  it('a record after the idle advance is late and counted by observe, and the partition is active again', () => {
    const { wm, pass, wall } = setup(2, 1);
    wm.observe('t:0', T0 - 600 * S);
    pass(3 * S);
    expect(wm.advance().ms).toBe(wall() - S);
    expect(wm.observe('t:0', T0 - 500 * S)).toBe(true);
    expect(wm.observe('t:0', wall())).toBe(false);
    expect(wm.advance()).toMatchObject({ ms: wall() - S, allIdle: false });
  });

  it('forgets partitions revoked in a rebalance', () => {
    const { wm } = setup();
    wm.observe(sourceKey('t', 0), T0 - 10 * S);
    wm.observe(sourceKey('t', 1), T0 - 900 * S);
    wm.lag(sourceKey('t', 1), 40);
    wm.retain({ t: [0] });
    expect(wm.advance()).toMatchObject({ ms: T0 - 15 * S, partitions: 1 });
  });
});

describe('watermark config', () => {
  it('defaults to a 30 s idle timeout and 60 s allowed lateness, and takes the pipeline config section', () => {
    expect(watermarkOptions(undefined)).toEqual({ idleTimeoutMs: 30_000, allowedLatenessMs: 60_000 });
    const cfg = parseConfig('watermark:\n  idle_timeout_s: 2\n  allowed_lateness_s: 0.5\n', 'p.yaml');
    expect(watermarkOptions(cfg.watermark)).toEqual({ idleTimeoutMs: 2000, allowedLatenessMs: 500 });
    expect(watermarkOptions({ allowed_lateness_s: 10 })).toEqual({ idleTimeoutMs: 30_000, allowedLatenessMs: 10_000 });
  });
});
