// Every topic, index and metric name is defined here once (as kafkajs keeps its
// instrumentation event names in one module), so a rename is one edit.

export const TOPIC_CONNECTIONS = 'connaudit.connections';
export const TOPIC_DLQ = 'connaudit.dlq';
export const TOPIC_AGENT_HEALTH = 'connaudit.agent-health';
/** Internal re-key topic: records re-keyed by the field a cross-host rule groups on. */
export const TOPIC_REKEY = 'connaudit.rekey';

/**
 * Compacted topic with the stage state (rule windows, SLO windows) of one
 * consumer group: key `<input topic>:<partition>` (or `instance:<name>` for
 * state that spans an instance), value the snapshot and the offset it covers.
 * Named after the group, as Kafka Streams names `<application.id>-<store>-changelog`.
 */
export const stateChangelogTopic = (group: string): string => `${group}-state-changelog`;

export const INDEX_CONNECTIONS = 'connaudit-connections';
export const INDEX_ALERTS = 'connaudit-alerts';
export const INDEX_AGENT_HEALTH = 'connaudit-agent-health';
export const INDEX_SLO = 'connaudit-slo';

export const CONSUMER_GROUP = 'connaudit-pipeline';
/** Second consumer group of the same pipeline process: reads TOPIC_REKEY (pipeline/rekey.ts). */
export const REKEY_GROUP = 'connaudit-pipeline-rekey';

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
