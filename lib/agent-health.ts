import avro from 'avsc';
import { historyTypes, SingleObjectCodec } from './avro.js';
import { loadSchema } from './record.js';

// The agent's periodic self-report (schemas/avro/agent-health.avsc): written by
// agent/health.ts, read by pipeline/agent-health.ts. One type and one codec for
// both sides, as for the connection record.

/** Mirrors schemas/avro/agent-health.avsc; agent/health.test.ts fails if they drift. */
export interface AgentHealth {
  event_id: string;
  host: string;
  ts_us: number;
  agent_version: string;
  started_us: number;
  interval_s: number;
  records_total: number;
  records_produced: number;
  ringbuf_drops: number;
  ringbuf_drops_per_cpu: number[];
  sampled_out: number;
  filtered: number;
  /** Loss counters by reason; the agent always writes them (Avro default 0 for older agents). */
  untracked_map_full?: number;
  untracked_nomem?: number;
  untracked_other?: number;
  stale_replaced?: number;
  /** Records left unread in the kernel ring buffer when the agent stopped (lost); 0 in every report but the last. */
  ring_unread_at_stop?: number;
  spool_records: number;
  spool_bytes: number;
  spool_dropped: number;
  kafka_errors: number;
  kafka_connected: boolean;
  records_dead_lettered: number;
  wire_bytes: number;
  wire_bytes_per_record: number;
  node_group: string | null;
  profile: string | null;
  cpu_pct: number | null;
  rss_bytes: number | null;
  events_per_s: number | null;
  bpf_programs: BpfProgramCost[];
}

/** One BPF program's cumulative cost since it was loaded (from bpf_prog_info). */
export interface BpfProgramCost {
  name: string;
  run_cnt: number;
  run_time_ns: number;
}

let codec: SingleObjectCodec | undefined;
export function agentHealthCodec(): SingleObjectCodec {
  // Reports from agents that predate the cost fields still decode (they read as null / []).
  codec ??= new SingleObjectCodec(avro.Type.forSchema(loadSchema('agent-health.avsc') as avro.Schema), historyTypes('agent-health'));
  return codec;
}
