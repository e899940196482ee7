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
    agent_health: Omit<AgentHealth, 'event_id' | 'host' | 'ts_us' | 'agent_version' | 'started_us'> & { started: string };
  };
}


const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

export function healthToDoc(r: AgentHealth): AgentHealthDoc {
  const { event_id, host, ts_us, agent_version, started_us, ...counters } = r;
  return {
    '@timestamp': iso(ts_us),
    event: { id: event_id, kind: 'metric', category: ['host'], type: ['info'], dataset: 'connaudit.agent_health', module: 'connaudit' },
    host: { name: host },
    agent: { version: agent_version },
    connaudit: { agent_health: { ...counters, started: iso(started_us) } },
  };
}
