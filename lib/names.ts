// Every topic, index and metric name is defined here once (as kafkajs keeps its
// instrumentation event names in one module), so a rename is one edit.

export const TOPIC_CONNECTIONS = 'connaudit.connections';
export const TOPIC_DLQ = 'connaudit.dlq';
export const TOPIC_AGENT_HEALTH = 'connaudit.agent-health';
/** Internal re-key topic: records re-keyed by the field a cross-host rule groups on. */
export const TOPIC_REKEY = 'connaudit.rekey';

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
  ringUnreadAtStop: 'connaudit_agent_ring_unread_at_stop_total',
  spoolRecords: 'connaudit_agent_spool_records',
  spoolBytes: 'connaudit_agent_spool_bytes',
  spoolDropped: 'connaudit_agent_spool_dropped_total',
  kafkaErrors: 'connaudit_agent_kafka_errors_total',
  kafkaConnected: 'connaudit_agent_kafka_connected',
  wireBytes: 'connaudit_agent_kafka_wire_bytes_total',
  wireBytesPerRecord: 'connaudit_agent_kafka_wire_bytes_per_record',
  capabilities: 'connaudit_agent_effective_capabilities',
} as const;
