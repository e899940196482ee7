// Every topic, index and metric name is defined here once (as kafkajs keeps its
// instrumentation event names in one module), so a rename is one edit.

/** Names a prefix may have: valid in a Kafka topic, an Elasticsearch index and a consumer group alike. */
const PREFIX_SHAPE = /^[a-z0-9][a-z0-9-]{0,40}$/;

/**
 * CONNAUDIT_NAME_PREFIX puts every topic, index, template and consumer group
 * of this process under a prefix, so that a second deployment (a staging
 * fleet, `connaudit bench e2e`) shares one Kafka and one Elasticsearch with
 * another without reading or writing the other's data. Read once at start:
 * agent and pipeline of one deployment must be started with the same value.
 */
export function namePrefix(env: NodeJS.ProcessEnv = process.env): string {
  const p = env.CONNAUDIT_NAME_PREFIX ?? '';
  if (p !== '' && !PREFIX_SHAPE.test(p)) {
    throw new Error(`CONNAUDIT_NAME_PREFIX=${JSON.stringify(p)} is not a usable prefix: use lower-case letters, digits and '-', starting with a letter or digit (e.g. staging-)`);
  }
  return p;
}

/** The topic, index and group names of a deployment under `prefix` (a benchmark computes another process's names with it). */
export function namesFor(prefix: string) {
  return {
    topicConnections: `${prefix}connaudit.connections`,
    topicDlq: `${prefix}connaudit.dlq`,
    topicAgentHealth: `${prefix}connaudit.agent-health`,
    topicRekey: `${prefix}connaudit.rekey`,
    indexConnections: `${prefix}connaudit-connections`,
    indexAlerts: `${prefix}connaudit-alerts`,
    indexAgentHealth: `${prefix}connaudit-agent-health`,
    indexSlo: `${prefix}connaudit-slo`,
    consumerGroup: `${prefix}connaudit-pipeline`,
    rekeyGroup: `${prefix}connaudit-pipeline-rekey`,
  };
}

export const NAME_PREFIX = namePrefix();
const NAMES = namesFor(NAME_PREFIX);

export const TOPIC_CONNECTIONS = NAMES.topicConnections;
export const TOPIC_DLQ = NAMES.topicDlq;
export const TOPIC_AGENT_HEALTH = NAMES.topicAgentHealth;
/** Internal re-key topic: records re-keyed by the field a cross-host rule groups on. */
export const TOPIC_REKEY = NAMES.topicRekey;

/**
 * Compacted topic with the stage state (rule windows, SLO windows) of one
 * consumer group: key `<input topic>:<partition>` (or `instance:<name>` for
 * state that spans an instance), value the snapshot and the offset it covers.
 * Named after the group, as Kafka Streams names `<application.id>-<store>-changelog`.
 */
export const stateChangelogTopic = (group: string): string => `${group}-state-changelog`;

export const INDEX_CONNECTIONS = NAMES.indexConnections;
export const INDEX_ALERTS = NAMES.indexAlerts;
export const INDEX_AGENT_HEALTH = NAMES.indexAgentHealth;
export const INDEX_SLO = NAMES.indexSlo;

export const CONSUMER_GROUP = NAMES.consumerGroup;
/** Second consumer group of the same pipeline process: reads TOPIC_REKEY (pipeline/rekey.ts). */
export const REKEY_GROUP = NAMES.rekeyGroup;

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:9092';
export const DEFAULT_ES_URL = 'http://127.0.0.1:9200';

/** Headers that say why a message was dead-lettered; written by the agent and the pipeline alike. */
export const DLQ_HEADER_REASON = 'dlq-reason';
export const DLQ_HEADER_ERROR = 'dlq-error';
/** Where the record came from before Kafka, when known (agent --replay: FILE:LINE). */
export const DLQ_HEADER_SOURCE = 'source-location';

/** Agent metrics on its /metrics listener (agent/metrics.ts); prom-client adds the component label. */
export const AGENT_METRICS = {
  recordsRead: 'connaudit_agent_records_read_total',
  recordsProduced: 'connaudit_agent_records_produced_total',
  recordsDeadLettered: 'connaudit_agent_records_dead_lettered_total',
  kernelDrops: 'connaudit_agent_kernel_drops_total',
  sampledOut: 'connaudit_agent_sampled_out_total',
  filtered: 'connaudit_agent_filtered_total',
  untracked: 'connaudit_agent_untracked_connections_total',
  ringUnreadAtStop: 'connaudit_agent_ring_unread_at_stop_total',
  spoolRecords: 'connaudit_agent_spool_records',
  spoolBytes: 'connaudit_agent_spool_bytes',
  spoolDropped: 'connaudit_agent_spool_dropped_total',
  kafkaErrors: 'connaudit_agent_kafka_errors_total',
  kafkaConnected: 'connaudit_agent_kafka_connected',
  wireBytes: 'connaudit_agent_kafka_wire_bytes_total',
  wireBytesPerRecord: 'connaudit_agent_kafka_wire_bytes_per_record',
  capabilities: 'connaudit_agent_effective_capabilities',
  dnsMessages: 'connaudit_agent_dns_messages_total',
  dnsDropped: 'connaudit_agent_dns_dropped_total',
  dnsTransactions: 'connaudit_agent_dns_transactions_total',
  dnsPending: 'connaudit_agent_dns_pending_queries',
  dnsCacheEntries: 'connaudit_agent_dns_cache_entries',
  dnsCacheEvictions: 'connaudit_agent_dns_cache_evictions_total',
  dnsNamed: 'connaudit_agent_dns_named_records_total',
  dnsOwnerNotStored: 'connaudit_agent_dns_owner_not_stored_total',
} as const;
