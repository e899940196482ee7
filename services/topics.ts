import type { Admin, ITopicConfig } from 'kafkajs';
import { TOPIC_LAYOUT } from '../pipeline/topics.js';

// The pipeline's topics, created explicitly once the broker is up. The layout
// (names and partition counts) is the pipeline's own (pipeline/topics.ts), so
// the broker `services up` prepares and the one the pipeline expects cannot
// drift apart. `services up` does it too because auto.create.topics would
// otherwise make a topic with one partition the moment an agent or test
// produces to it before the pipeline has ever run.

export const TOPICS: ITopicConfig[] = TOPIC_LAYOUT.map((t) => ({ ...t, replicationFactor: 1 }));

export interface TopicChanges {
  created: string[];
  /** Topics that existed with fewer partitions (typically auto-created by an early producer) and were widened. */
  widened: Array<{ topic: string; from: number; to: number }>;
}

/**
 * Creates missing topics and widens ones that have fewer partitions than
 * specified. Kafka can add partitions but never remove them, so a topic
 * with more partitions than the spec is left as it is.
 */
export async function ensureTopics(admin: Admin, topics: ITopicConfig[] = TOPICS): Promise<TopicChanges> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
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
