import { loadYamlConfig } from './config-file.js';
import type { ConnectionRecord } from './record.js';
import { loadSchema } from './record.js';

// The seed's safe rollout: pick node groups, start with low-volume events,
// restrict the fields, profile on a small group before production. One
// central file (schemas/rollout.schema.json) says which node groups run the
// agent and with which profile; each agent applies its own entry.

export type ProfileName = 'minimal' | 'standard' | 'full';

export interface Profile {
  description: string;
  /** Record kinds produced: 'final' only means no periodic interim records for long-lived connections. */
  interim: boolean;
  /** Record fields kept; every other field is sent empty (its Avro default). 'all' keeps everything. */
  keep: ReadonlySet<string> | 'all';
}

/**
 * Identity and time of a record: always kept, or the pipeline could neither
 * deduplicate nor place it.
 */
const IDENTITY = ['event_id', 'conn_uid', 'kind', 'start_us', 'end_us', 'agent_version', 'family', 'transport', 'direction', 'src_ip', 'src_port'];

/**
 * What a DNS record is about (the question and how it was answered) and the
 * name a connection's destination was resolved from: small, and without them
 * a DNS record says nothing and an address has no name.
 */
const NAMES = ['dns_qname', 'dns_qtype', 'dns_rcode', 'dns_registered_domain', 'dst_domain', 'dst_registered_domain'];

/**
 * The seed's seven labels (host.name, process.name, destination.ip,
 * destination.port, connection.state, latency_ms, environment) come from
 * these record fields; plus how the connection ended and the node group.
 */
const SEVEN_LABELS = ['host', 'comm', 'dst_ip', 'dst_port', 'conn_state', 'connect_latency_us', 'environment'];

export const PROFILES: Record<ProfileName, Profile> = {
  minimal: {
    description: 'the seven labels (host.name, process.name, destination.ip/port, connection.state, latency_ms, environment) plus transport, close reason, node group, DNS question and answer code and destination names; final records only',
    interim: false,
    keep: new Set([...IDENTITY, ...SEVEN_LABELS, ...NAMES, 'close_reason', 'node_group']),
  },
  standard: {
    description: 'minimal plus TCP health (retransmits, resets, RTT), process identity (pid, executable, parent, uid, container) and DNS answers; no byte or packet counts, labels or interim records',
    interim: false,
    keep: new Set([...IDENTITY, ...SEVEN_LABELS, ...NAMES, 'dns_id', 'dns_resolved_ips', 'dns_answers', 'close_reason', 'node_group', 'netns', 'srtt_us', 'retransmits', 'syn_retransmits', 'rst_sent', 'rst_received',
      'pid', 'tid', 'ppid', 'uid', 'executable', 'parent_name', 'cgroup_id', 'container_id']),
  },
  full: { description: 'every field and interim records for long-lived connections', interim: true, keep: 'all' },
};

let fields: Array<{ name: string; default?: unknown }> | undefined;
/** The connection record's fields in schema order, with their Avro defaults where they have one. */
function recordFields(): Array<{ name: string; default?: unknown }> {
  fields ??= (loadSchema('connection.avsc') as { fields: Array<{ name: string; default?: unknown }> }).fields;
  return fields;
}

/** Fields every record must carry (no Avro default): a profile has to keep them all. */
export function requiredFields(): string[] {
  return recordFields().filter((f) => !('default' in f)).map((f) => f.name);
}

/** The fields a profile sends empty (as their Avro default: null, 0, {}). */
export function droppedFields(profile: ProfileName): string[] {
  const keep = PROFILES[profile].keep;
  return keep === 'all' ? [] : recordFields().filter((f) => !keep.has(f.name)).map((f) => f.name);
}

/** A copy of `rec` with every field outside the profile set to its Avro default. */
export function restrictRecord(rec: ConnectionRecord, profile: ProfileName): ConnectionRecord {
  const keep = PROFILES[profile].keep;
  if (keep === 'all') return rec;
  const out: Record<string, unknown> = { ...rec };
  for (const f of recordFields()) if (!keep.has(f.name)) out[f.name] = structuredClone(f.default);
  return out as unknown as ConnectionRecord;
}

export interface RolloutGroup {
  enabled: boolean;
  profile?: ProfileName;
}

export interface RolloutPlan {
  default?: RolloutGroup;
  node_groups: Record<string, RolloutGroup>;
}

export function loadRollout(file: string): RolloutPlan {
  return loadYamlConfig<RolloutPlan>(file, 'rollout.schema.json', 'the format is schemas/rollout.schema.json').value;
}

export interface Decision {
  enabled: boolean;
  profile: ProfileName;
  /** Which entry decided, for the log line an operator reads. */
  reason: string;
}

/** What the agent on a host of `nodeGroup` does under `plan`. Unlisted groups (and no group) follow `default`, which is disabled unless set. */
export function decide(plan: RolloutPlan, nodeGroup: string | null): Decision {
  const own = nodeGroup !== null ? plan.node_groups[nodeGroup] : undefined;
  const entry = own ?? plan.default ?? { enabled: false };
  const where = own ? `node_groups.${nodeGroup}` : plan.default ? 'default' : 'no entry (disabled unless listed)';
  return {
    enabled: entry.enabled,
    profile: entry.profile ?? 'minimal',
    reason: nodeGroup === null ? `this agent has no node_group; ${where}` : `node group ${nodeGroup}: ${where}`,
  };
}
