import { describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { compileCondition, type CompileCtx } from './condition.js';
import { synthDoc } from '../../tools/gen/synth.js';

const ctx = (errors: string[] = []): CompileCtx => ({
  lists: new Map<string, unknown[]>([['nets', ['10.0.0.0/8', 'fd00::/8']]]),
  macro: () => null,
  error: (p, m) => errors.push(`${p.join('/')}: ${m}`),
});
const c = (node: unknown) => compileCondition(node, [], ctx());
const d = (o: Partial<Parameters<typeof synthDoc>[0]> = {}): ConnectionDoc => synthDoc({ t: 0, host: 'web-1', src: '10.1.2.3', dst: '8.8.8.8', dport: 443, proc: 'curl', latencyMs: 12.5, ...o });

describe('compiled conditions', () => {
  it.each([
    [{ field: 'destination.port', eq: 443 }, d(), true],
    [{ field: 'destination.port', eq: '443' }, d(), true],
    [{ field: 'destination.port', in: [22, 80] }, d(), false],
    [{ field: 'process.name', prefix: ['cu', 'wg'] }, d(), true],
    [{ field: 'process.executable', suffix: '/curl' }, d(), true],
    [{ field: 'host.name', contains: 'eb-' }, d(), true],
    [{ field: 'source.ip', cidr: { list: 'nets' } }, d(), true],
    [{ field: 'source.ip', cidr: { list: 'nets' } }, d({ src: 'fd00::1', dst: 'fd00::2' }), true],
    [{ field: 'source.ip', cidr: ['10.1.2.0/25'] }, d({ src: '10.1.2.200' }), false],
    [{ field: 'connaudit.connect_latency_ms', gte: 10, lt: 13 }, d(), true],
    [{ field: 'connaudit.connect_latency_ms', gt: 12.5 }, d(), false],
    [{ field: 'process.name', regex: '^c[a-z]+l$' }, d(), true],
    [{ field: 'event.type', eq: 'end' }, d(), true],
    [{ field: 'service.name', exists: false }, d(), true],
    [{ not: { field: 'network.direction', eq: 'egress' } }, d(), false],
    [{ or: [{ field: 'destination.port', eq: 1 }, { field: 'destination.port', eq: 443 }] }, d(), true],
    [{ and: [{ field: 'destination.port', eq: 443 }, { field: 'host.name', eq: 'other' }] }, d(), false],
  ])('%j -> %s', (node, doc, want) => {
    expect(c(node)(doc as ConnectionDoc)).toBe(want);
  });

  it('explains which leaf tests held', () => {
    const p = c({ and: [{ field: 'destination.port', in: [443] }, { not: { field: 'host.name', eq: 'db-1' } }] });
    const out: string[] = [];
    p.explain(d(), out);
    expect(out).toEqual(['destination.port in [443] (443)', 'not(host.name eq db-1 ("web-1"))']);
  });

  it('reports an unknown list and an invalid CIDR by path', () => {
    const errors: string[] = [];
    compileCondition({ and: [{ field: 'a', in: { list: 'nope' } }, { field: 'b', cidr: '10.0.0.0/33' }] }, ['condition'], ctx(errors));
    expect(errors).toEqual([
      "condition/and/0/in/list: unknown list 'nope'; define it with '- list: nope' in a file loaded before or with this one",
      'condition/and/1/cidr: not a CIDR: "10.0.0.0/33" (prefix must be 0..32) in field test on b',
    ]);
  });
});
