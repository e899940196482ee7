import { describe, expect, it } from 'vitest';
import { isoFromMicros, microsFromIso } from './iso-micros.js';

// The formatter caches the date part; check it against Date over values that
// cross seconds, days, months, leap days and years, in and out of order.

const viaDate = (us: number): string => {
  const ms = Math.floor(us / 1000);
  return new Date(ms).toISOString().replace(/Z$/, `${String(us - ms * 1000).padStart(3, '0')}Z`);
};

describe('isoFromMicros', () => {
  const cases = [0, 1, 999_999, 1_000_000, 1_763_770_001_500_456, 1_763_769_599_999_999, 1_763_769_600_000_000, 951_782_399_999_999, 951_782_400_000_001, 1_709_164_800_123_000, 4_102_444_799_999_999];
  it.each(cases)('formats %i like Date with microseconds', (us) => {
    expect(isoFromMicros(us)).toBe(viaDate(us));
    expect(microsFromIso(isoFromMicros(us))).toBe(us);
  });

  it('stays right when consecutive calls jump between days', () => {
    let x = 1_700_000_000_000_000;
    for (let i = 0; i < 2000; i++) {
      x = (x * 48271 + 11) % 4_102_444_800_000_000;
      expect(isoFromMicros(x)).toBe(viaDate(x));
    }
  });

  it('reads offsets and short fractions', () => {
    expect(microsFromIso('2025-11-22T00:06:41Z')).toBe(1_763_770_001_000_000);
    expect(microsFromIso('2025-11-22T01:06:41.5+01:00')).toBe(1_763_770_001_500_000);
    expect(() => microsFromIso('yesterday')).toThrow('not an ISO-8601 timestamp: "yesterday"');
  });
});
