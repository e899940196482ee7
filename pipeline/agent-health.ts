import type { AgentHealth } from '../lib/agent-health.js';

// Agent self-reports (schemas/avro/agent-health.avsc) become ECS-style metric
// documents in connaudit-agent-health, so drops and spool growth are visible
// next to the connections they would have produced.


export interface AgentHealthDoc {
  '@timestamp': string;
  event: { id: string; kind: 'metric'; category: ['host']; type: ['info']; dataset: 'connaudit.agent_health'; module: 'connaudit'; ingested?: string };
  host: { name: string };
  agent: { version: string };
  connaudit: {
    agent_health: Omit<AgentHealth, 'event_id' | 'host' | 'ts_us' | 'agent_version' | 'started_us' | 'bpf_programs'> & {
      started: string;
      bpf_programs: Array<AgentHealth['bpf_programs'][number] & { ns_per_run: number | null }>;
      /** The costliest program's ns per run: one number to compare node groups by (Kibana, rollout report). */
      bpf_ns_per_run_max: number | null;
    };
  };
}


const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

export function healthToDoc(r: AgentHealth): AgentHealthDoc {
  const { event_id, host, ts_us, agent_version, started_us, bpf_programs, ...counters } = r;
  const programs = bpf_programs.map((p) => ({ ...p, ns_per_run: p.run_cnt > 0 ? Math.round((p.run_time_ns / p.run_cnt) * 100) / 100 : null }));
  const perRun = programs.map((p) => p.ns_per_run).filter((n): n is number => n !== null);
  return {
    '@timestamp': iso(ts_us),
    event: { id: event_id, kind: 'metric', category: ['host'], type: ['info'], dataset: 'connaudit.agent_health', module: 'connaudit' },
    host: { name: host },
    agent: { version: agent_version },
    connaudit: { agent_health: { ...counters, started: iso(started_us), bpf_programs: programs, bpf_ns_per_run_max: perRun.length ? Math.max(...perRun) : null } },
  };
}
