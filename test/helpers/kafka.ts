import { ensureTopics } from '../../lib/topics.js';
import type { Kafka } from 'kafkajs';

// Integration tests share one broker and its topics with earlier runs, so a
// test reads only what it produced: it starts its consumer groups at the
// topics' current end offsets.

export type Offsets = Record<string, Array<{ partition: number; offset: string }>>;

export async function endOffsets(kafka: Kafka, topic: string): Promise<Offsets[string]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high }));
  } finally {
    await admin.disconnect();
  }
}

/** Creates (or moves) a consumer group so that it starts exactly at `offsets`; returns its id. */
export async function groupAt(kafka: Kafka, groupId: string, offsets: Offsets): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const [topic, partitions] of Object.entries(offsets)) await admin.setOffsets({ groupId, topic, partitions });
  } finally {
    await admin.disconnect();
  }
  return groupId;
}

/** Creates connaudit's topics on the local broker, as the pipeline does at start. */
export async function prepareTopics(kafka: Kafka): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin);
  } finally {
    await admin.disconnect();
  }
}
