import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentHealth } from '../../lib/agent-health.js';
import { esClientOptions } from '../../lib/connect.js';
import { healthToDoc } from '../../pipeline/agent-health.js';
import { effectiveMappings } from '../../pipeline/es-templates.js';
import { rolloutReport } from '../../pipeline/rollout-report.js';
import { skipUnless } from '../helpers/env.js';

// The rollout report's query against the real Elasticsearch, over agent-health
// documents shaped by the pipeline's own healthToDoc, in an index of its own
// (other tests share the node) with the agent-health template's mappings.

const es = new Client(esClientOptions());
const index = `connaudit-test-health-${randomBytes(4).toString('hex')}`;

function report(host: string, group: string | null, seq: number, over: Partial<AgentHealth>): AgentHealth {
  const now = Date.now() * 1000;
  return {
    event_id: `${host}-${seq}`, host, ts_us: now - (10 - seq) * 5_000_000, agent_version: '0.1.0', started_us: now - 60_000_000, interval_s: 5,
    records_total: 100 * seq, records_produced: 100 * seq, ringbuf_drops: 0, ringbuf_drops_per_cpu: [0, 0], sampled_out: 0, filtered: 0,
    spool_records: 0, spool_bytes: 0, spool_dropped: 0, kafka_errors: 0, kafka_connected: true,
    records_dead_lettered: 0, wire_bytes: 0, wire_bytes_per_record: 0,
    node_group: group, profile: group === 'canary' ? 'minimal' : 'full', cpu_pct: 1, rss_bytes: 50 * 1024 * 1024, events_per_s: 100, bpf_programs: [], ...over,
  };
}

describe('connaudit rollout report over real agent-health documents', () => {
  afterAll(async () => {
    await es.indices.delete({ index }).catch(() => undefined);
    await es.close();
  });

  it('compares two node groups: hosts, profile, CPU, RSS, events/s, BPF ns per run and cumulative drops', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    await es.indices.create({ index, mappings: effectiveMappings('connaudit-agent-health') as never });
    const docs = [
      // canary: two hosts on minimal, cheap; drops are cumulative, so the last report per host counts.
      report('canary-1', 'canary', 1, { cpu_pct: 2, events_per_s: 1000, ringbuf_drops: 3 }),
      report('canary-1', 'canary', 2, { cpu_pct: 4, events_per_s: 1000, ringbuf_drops: 7, bpf_programs: [{ name: 'handle_set_state', run_cnt: 1000, run_time_ns: 400_000 }] }),
      report('canary-2', 'canary', 1, { cpu_pct: 3, events_per_s: 1000, rss_bytes: 80 * 1024 * 1024, ringbuf_drops: 1 }),
      // pool-b: one host on full, dearer per event.
      report('pool-b-1', 'pool-b', 1, { cpu_pct: 12, events_per_s: 2000, bpf_programs: [{ name: 'handle_set_state', run_cnt: 10, run_time_ns: 9_000 }] }),
      // An old agent without cost fields and node group: its own bucket, counted, never dropped.
      report('old-1', null, 1, { cpu_pct: null, rss_bytes: null, events_per_s: null, profile: null }),
    ];
    const res = await es.bulk({ refresh: true, operations: docs.flatMap((d) => [{ index: { _index: index, _id: d.event_id } }, healthToDoc(d)]) });
    expect(res.errors, JSON.stringify(res.items.find((i) => i.index?.error))).toBe(false);

    const r = await rolloutReport(es, 'now-1h', 'now+1m', index);
    expect(r.groups.map((g) => g.node_group)).toEqual(['(no node_group)', 'canary', 'pool-b']);
    const [none, canary, poolB] = r.groups;
    expect(canary).toMatchObject({ hosts: 2, reports: 3, profiles: ['minimal'], cpu_pct_avg: 3, cpu_pct_max: 4, rss_mb_max: 80, events_per_s_avg: 1000,
      cpu_pct_per_1k_events_s: 3, bpf_ns_per_run_max: 400, ringbuf_drops: 8 });
    expect(poolB).toMatchObject({ hosts: 1, reports: 1, profiles: ['full'], cpu_pct_avg: 12, cpu_pct_per_1k_events_s: 6, bpf_ns_per_run_max: 900 });
    expect(none).toMatchObject({ hosts: 1, reports: 1, cpu_pct_avg: null });
    // Every document is in exactly one group.
    expect(r.groups.reduce((a, g) => a + g.reports, 0)).toBe(docs.length);
  });
});
