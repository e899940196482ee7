import type { Admin, ITopicConfig } from 'kafkajs';
import { stateChangelogTopic, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ, TOPIC_REKEY } from './names.js';

// The topics connaudit reads and writes, and one way to create them. Both
// `services up` and the pipeline call ensureTopics: the broker a test or the
// demo prepares and the one the pipeline expects cannot drift apart, and a
// producer that runs before the pipeline cannot leave an auto-created topic
// with one partition behind (it is widened here).
//
// The connection and rekey topics get several partitions so that two or more
// pipeline instances share the work; the DLQ and health topics are low-volume.
export const TOPIC_LAYOUT: ReadonlyArray<{ topic: string; numPartitions: number }> = [
  { topic: TOPIC_CONNECTIONS, numPartitions: 6 },
  { topic: TOPIC_REKEY, numPartitions: 6 },
  { topic: TOPIC_AGENT_HEALTH, numPartitions: 1 },
  { topic: TOPIC_DLQ, numPartitions: 1 },
];

/**
 * The stage-state changelog of one consumer group (lib/names.ts). Compacted:
 * only the newest snapshot per key matters, and compaction keeps the topic at
 * the size of the state. One partition: it is read in full by every instance
 * (pipeline/state-store.ts). A snapshot of busy rule windows can pass the
 * broker's 1 MB default, hence the larger message limit.
 */
export const changelogTopicConfig = (group: string): ITopicConfig => ({
  topic: stateChangelogTopic(group),
  numPartitions: 1,
  configEntries: [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'max.message.bytes', value: String(64 * 1024 * 1024) },
    // Compact soon after a segment fills, so a restore reads little more than the newest snapshots.
    { name: 'segment.bytes', value: String(64 * 1024 * 1024) },
    { name: 'min.cleanable.dirty.ratio', value: '0.1' },
  ],
});

export interface TopicChanges {
  created: string[];
  /** Topics that existed with fewer partitions (typically auto-created by an early producer) and were widened. */
  widened: Array<{ topic: string; from: number; to: number }>;
}

/**
 * Creates missing topics and widens ones that have fewer partitions than
 * specified. Kafka can add partitions but never remove them, so a topic with
 * more partitions than the layout is left as it is (partition counts are an
 * operator decision). replicationFactor -1 takes the broker's default.
 */
export async function ensureTopics(admin: Admin, topics: ReadonlyArray<ITopicConfig> = TOPIC_LAYOUT, replicationFactor = -1): Promise<TopicChanges> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) {
    await admin.createTopics({ topics: missing.map((t) => ({ replicationFactor, ...t })), waitForLeaders: true });
  }
  const present = topics.filter((t) => existing.has(t.topic));
  const widened: TopicChanges['widened'] = [];
  if (present.length > 0) {
    const md = await admin.fetchTopicMetadata({ topics: present.map((t) => t.topic) });
    for (const t of present) {
      const have = md.topics.find((m) => m.name === t.topic)?.partitions.length ?? 0;
      const want = t.numPartitions ?? 1;
      if (have > 0 && have < want) widened.push({ topic: t.topic, from: have, to: want });
    }
    if (widened.length > 0) await admin.createPartitions({ topicPartitions: widened.map((w) => ({ topic: w.topic, count: w.to })) });
  }
  return { created: missing.map((t) => t.topic), widened };
}
