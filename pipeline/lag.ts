import type { Kafka } from 'kafkajs';
import type { Logger } from '../lib/log.js';

// Consumer lag from the broker's view: end of each partition minus the
// group's committed offset. The batch loop also reports lag after each commit,
// but a consumer that is stuck commits nothing, so only this periodic reading
// shows its lag growing. A partition never committed counts from its low
// watermark (everything retained is still to be read).

export function watchLag(kafka: Kafka, groups: Array<{ groupId: string; topics: string[] }>, set: (group: string, topic: string, partition: number, lag: number) => void, log: Logger, everyMs: number): () => void {
  const admin = kafka.admin();
  let connected = false;
  let busy = false;
  const read = async () => {
    if (busy) return;
    busy = true;
    try {
      if (!connected) {
        await admin.connect();
        connected = true;
      }
      for (const g of groups) {
        for (const topic of g.topics) {
          const ends = await admin.fetchTopicOffsets(topic);
          const [committed] = await admin.fetchOffsets({ groupId: g.groupId, topics: [topic] });
          for (const p of ends) {
            const c = Number(committed?.partitions.find((x) => x.partition === p.partition)?.offset ?? -1);
            set(g.groupId, topic, p.partition, Math.max(0, Number(p.high) - (c >= 0 ? c : Number(p.low))));
          }
        }
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'consumer lag not read this time');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void read(), everyMs);
  return () => {
    clearInterval(timer);
    if (connected) void admin.disconnect().catch(() => undefined);
  };
}
