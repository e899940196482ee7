import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { communityId } from './community-id.js';

// The spec's published baseline (baseline/baseline_deflt.json, seed 0), limited
// to the port-based and port-less protocols we implement (ICMP type/code
// mapping is out of scope: connaudit records TCP only).
const baseline = JSON.parse(readFileSync(new URL('../test/fixtures/community-id-baseline.json', import.meta.url), 'utf8')) as Array<{
  proto: number; saddr: string; daddr: string; sport: number | null; dport: number | null; communityid: string;
}>;

describe('communityId', () => {
  it.each(baseline.map((v) => [`${v.proto} ${v.saddr}:${v.sport} -> ${v.daddr}:${v.dport}`, v] as const))('matches the spec vector %s', (_name, v) => {
    expect(communityId(v)).toBe(v.communityid);
  });

  it('is direction-independent and seed-dependent', () => {
    const a = communityId({ proto: 6, saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 40000, dport: 22 });
    const b = communityId({ proto: 6, saddr: '10.0.0.2', daddr: '10.0.0.1', sport: 22, dport: 40000 });
    expect(a).toBe(b);
    expect(communityId({ proto: 6, saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 40000, dport: 22 }, 1)).not.toBe(a);
  });

  it('rejects mixed address families', () => {
    expect(() => communityId({ proto: 6, saddr: '10.0.0.1', daddr: 'fd00::1', sport: 1, dport: 2 })).toThrow(/mixed address families/);
  });
});
