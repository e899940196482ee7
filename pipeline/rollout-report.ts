import type { Client } from '@elastic/elasticsearch';
import { INDEX_AGENT_HEALTH } from '../lib/names.js';

// `connaudit rollout report`: the sensor's own cost per node group, from the
// agent-health records in connaudit-agent-health, so a team can profile one
// small group before widening. Counters in a health record are cumulative
// per agent run, so drops are taken as the largest value per host; CPU,
// events/s and BPF ns per run are averaged or maxed over the reports.

const F = 'connaudit.agent_health';
/** The bucket for reports from agents that do not say their node group. */
export const NO_GROUP = '(no node_group)';

export interface GroupCost {
  node_group: string;
  hosts: number;
  reports: number;
  profiles: string[];
  cpu_pct_avg: number | null;
  cpu_pct_max: number | null;
  rss_mb_max: number | null;
  events_per_s_avg: number | null;
  /** Agent CPU per 1000 events/s: compares groups of different traffic on the same footing. */
  cpu_pct_per_1k_events_s: number | null;
  bpf_ns_per_run_max: number | null;
  ringbuf_drops: number;
  spool_dropped: number;
}

export interface RolloutReport {
  from: string;
  to: string;
  index: string;
  groups: GroupCost[];
}

type Agg = { value: number | null };
interface GroupBucket {
  key: string;
  doc_count: number;
  hosts: Agg;
  profiles: { buckets: Array<{ key: string }> };
  cpu_avg: Agg;
  cpu_max: Agg;
  rss_max: Agg;
  eps_avg: Agg;
  bpf_max: Agg;
  per_host: { buckets: Array<{ drops: Agg; spool_dropped: Agg }> };
}

const round = (n: number | null, digits = 2): number | null => (n === null ? null : Math.round(n * 10 ** digits) / 10 ** digits);

/** The search behind the report; exported so the request shape is tested without a cluster. */
export function reportQuery(from: string, to: string) {
  return {
    size: 0,
    query: { bool: { filter: [{ range: { '@timestamp': { gte: from, lte: to } } }] } },
    aggs: {
      groups: {
        terms: { field: `${F}.node_group`, missing: NO_GROUP, size: 500, order: { _key: 'asc' as const } },
        aggs: {
          hosts: { cardinality: { field: 'host.name' } },
          profiles: { terms: { field: `${F}.profile`, size: 10 } },
          cpu_avg: { avg: { field: `${F}.cpu_pct` } },
          cpu_max: { max: { field: `${F}.cpu_pct` } },
          rss_max: { max: { field: `${F}.rss_bytes` } },
          eps_avg: { avg: { field: `${F}.events_per_s` } },
          bpf_max: { max: { field: `${F}.bpf_ns_per_run_max` } },
          per_host: {
            terms: { field: 'host.name', size: 10_000 },
            aggs: { drops: { max: { field: `${F}.ringbuf_drops` } }, spool_dropped: { max: { field: `${F}.spool_dropped` } } },
          },
        },
      },
    },
  };
}

export function toGroups(buckets: GroupBucket[]): GroupCost[] {
  return buckets.map((b) => {
    const cpu = b.cpu_avg.value;
    const eps = b.eps_avg.value;
    return {
      node_group: b.key,
      hosts: b.hosts.value ?? 0,
      reports: b.doc_count,
      profiles: b.profiles.buckets.map((p) => p.key),
      cpu_pct_avg: round(cpu),
      cpu_pct_max: round(b.cpu_max.value),
      rss_mb_max: b.rss_max.value === null ? null : round(b.rss_max.value / (1024 * 1024), 1),
      events_per_s_avg: round(eps),
      cpu_pct_per_1k_events_s: cpu !== null && eps !== null && eps > 0 ? round((cpu / eps) * 1000) : null,
      bpf_ns_per_run_max: round(b.bpf_max.value, 0),
      ringbuf_drops: b.per_host.buckets.reduce((a, h) => a + (h.drops.value ?? 0), 0),
      spool_dropped: b.per_host.buckets.reduce((a, h) => a + (h.spool_dropped.value ?? 0), 0),
    };
  });
}

export async function rolloutReport(es: Client, from: string, to: string, index = `${INDEX_AGENT_HEALTH}*`): Promise<RolloutReport> {
  const res = await es.search({ index, ...reportQuery(from, to) } as never);
  const groups = (res.aggregations as { groups: { buckets: GroupBucket[] } } | undefined)?.groups.buckets ?? [];
  return { from, to, index, groups: toGroups(groups) };
}

const fmt = (v: number | null | string | string[]): string => (v === null ? '-' : Array.isArray(v) ? v.join(',') || '-' : String(v));

export function formatReport(r: RolloutReport): string {
  const head = ['node group', 'hosts', 'reports', 'profile', 'CPU % avg', 'CPU % max', 'RSS MB max', 'events/s avg', 'CPU %/1k ev/s', 'BPF ns/run max', 'rb drops', 'spool drops'];
  const rows = r.groups.map((g) => [g.node_group, g.hosts, g.reports, g.profiles, g.cpu_pct_avg, g.cpu_pct_max, g.rss_mb_max, g.events_per_s_avg,
    g.cpu_pct_per_1k_events_s, g.bpf_ns_per_run_max, g.ringbuf_drops, g.spool_dropped].map((v) => fmt(v as never)));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`sensor cost by node group, ${r.from} .. ${r.to} (${r.index})`, line(head), ...rows.map(line)];
  if (r.groups.length === 0) out.push('(no agent-health reports in this range: are agents running and the pipeline indexing connaudit.agent-health?)');
  const blind = r.groups.filter((g) => g.bpf_ns_per_run_max === null).map((g) => g.node_group);
  if (blind.length) out.push(`BPF ns/run "-": no program stats from ${blind.join(', ')} (the kernel counts them only with sysctl kernel.bpf_stats_enabled=1)`);
  return out.join('\n');
}
