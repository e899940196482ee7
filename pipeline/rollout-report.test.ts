import { describe, expect, it } from 'vitest';
import { effectiveMappings, fieldMapping } from './es-templates.js';
import { formatReport, NO_GROUP, reportQuery, toGroups } from './rollout-report.js';

const agg = (value: number | null) => ({ value });

describe('rollout report', () => {
  it('aggregates only fields the agent-health template maps, with a bucket for agents that report no node group', () => {
    const q = reportQuery('now-1h', 'now');
    const m = effectiveMappings('connaudit-agent-health');
    const fields: string[] = [];
    const walk = (o: unknown): void => {
      if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) { if (k === 'field' && typeof v === 'string') fields.push(v); else walk(v); }
    };
    walk(q.aggs);
    expect(fields.length).toBeGreaterThanOrEqual(10);
    for (const f of fields) expect(fieldMapping(m, f)?.type, f).toBeDefined();
    expect(q.aggs.groups.terms.missing).toBe(NO_GROUP);
    expect(q.query.bool.filter[0]).toEqual({ range: { '@timestamp': { gte: 'now-1h', lte: 'now' } } });
  });

  it('turns buckets into per-group cost, CPU per 1000 events/s, and sums per-host maxima of cumulative drops', () => {
    const groups = toGroups([{
      key: 'canary', doc_count: 12, hosts: agg(2), profiles: { buckets: [{ key: 'minimal' }] },
      cpu_avg: agg(3), cpu_max: agg(7.5), rss_max: agg(100 * 1024 * 1024), eps_avg: agg(1500), bpf_max: agg(812.4),
      per_host: { buckets: [{ drops: agg(10), spool_dropped: agg(0) }, { drops: agg(5), spool_dropped: agg(2) }] },
    }, {
      key: NO_GROUP, doc_count: 3, hosts: agg(1), profiles: { buckets: [] },
      cpu_avg: agg(null), cpu_max: agg(null), rss_max: agg(null), eps_avg: agg(null), bpf_max: agg(null),
      per_host: { buckets: [{ drops: agg(0), spool_dropped: agg(0) }] },
    }]);
    expect(groups[0]).toEqual({
      node_group: 'canary', hosts: 2, reports: 12, profiles: ['minimal'], cpu_pct_avg: 3, cpu_pct_max: 7.5, rss_mb_max: 100,
      events_per_s_avg: 1500, cpu_pct_per_1k_events_s: 2, bpf_ns_per_run_max: 812, ringbuf_drops: 15, spool_dropped: 2,
    });
    expect(groups[1]).toMatchObject({ node_group: NO_GROUP, cpu_pct_avg: null, cpu_pct_per_1k_events_s: null });
    const text = formatReport({ from: 'now-1h', to: 'now', index: 'connaudit-agent-health*', groups });
    expect(text.split('\n')[2]).toMatch(/^canary\s+2\s+12\s+minimal\s+3\s+7\.5\s+100\s+1500\s+2\s+812\s+15\s+2$/);
    expect(text).toMatch(/no program stats from \(no node_group\)/);
  });

  it('says what to check when there are no reports at all', () => {
    expect(formatReport({ from: 'a', to: 'b', index: 'i', groups: [] })).toMatch(/no agent-health reports in this range/);
  });
});
