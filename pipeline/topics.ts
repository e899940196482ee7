import type { Kafka } from 'kafkajs';
import type { Logger } from '../lib/log.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ, TOPIC_REKEY } from '../lib/names.js';

// The topics the pipeline reads and writes, created if missing so a fresh
// broker works without a separate step. Existing topics are left as they are
// (partition counts are an operator decision). The connection and rekey
// topics get several partitions so that two or more pipeline instances share
// the work; the DLQ and health topics are low-volume.
export const TOPIC_LAYOUT: Array<{ topic: string; numPartitions: number }> = [
  { topic: TOPIC_CONNECTIONS, numPartitions: 6 },
  { topic: TOPIC_REKEY, numPartitions: 6 },
  { topic: TOPIC_AGENT_HEALTH, numPartitions: 1 },
  { topic: TOPIC_DLQ, numPartitions: 1 },
];

export async function ensureTopics(kafka: Kafka, log?: Logger): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = TOPIC_LAYOUT.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      await admin.createTopics({ topics: missing.map((t) => ({ ...t, replicationFactor: -1 })), waitForLeaders: true });
      log?.info({ topics: missing.map((t) => t.topic) }, 'created Kafka topics');
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
