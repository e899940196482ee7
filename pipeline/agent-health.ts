import avro from 'avsc';
import { SingleObjectCodec } from '../lib/avro.js';
import { loadSchema } from '../lib/record.js';

// Agent self-reports (schemas/avro/agent-health.avsc) become ECS-style metric
// documents in connaudit-agent-health, so drops and spool growth are visible
// next to the connections they would have produced.

export interface AgentHealthRecord {
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
  spool_records: number;
  spool_bytes: number;
  spool_dropped: number;
  kafka_errors: number;
  kafka_connected: boolean;
}

export interface AgentHealthDoc {
  '@timestamp': string;
  event: { id: string; kind: 'metric'; category: ['host']; type: ['info']; dataset: 'connaudit.agent_health'; module: 'connaudit'; ingested?: string };
  host: { name: string };
  agent: { version: string };
  connaudit: {
    agent_health: Omit<AgentHealthRecord, 'event_id' | 'host' | 'ts_us' | 'agent_version' | 'started_us'> & { started: string };
  };
}

let codec: SingleObjectCodec | undefined;
export function agentHealthCodec(): SingleObjectCodec {
  codec ??= new SingleObjectCodec(avro.Type.forSchema(loadSchema('agent-health.avsc') as avro.Schema));
  return codec;
}

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

export function healthToDoc(r: AgentHealthRecord): AgentHealthDoc {
  const { event_id, host, ts_us, agent_version, started_us, ...counters } = r;
  return {
    '@timestamp': iso(ts_us),
    event: { id: event_id, kind: 'metric', category: ['host'], type: ['info'], dataset: 'connaudit.agent_health', module: 'connaudit' },
    host: { name: host },
    agent: { version: agent_version },
    connaudit: { agent_health: { ...counters, started: iso(started_us) } },
  };
}
