import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import type { Kafka } from 'kafkajs';
import { esClientOptions } from '../../lib/connect.js';
import { INDEX_ALERTS, INDEX_CONNECTIONS, TOPIC_DLQ } from '../../lib/names.js';
import { groupAt, type Offsets } from './kafka.js';

// What the pipeline fault tests count on the way out: documents in
// Elasticsearch and messages in the dead-letter topic, each read from where
// the test started, so other tests writing to the same services do not count.

export interface DlqMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Every DLQ message from `from` whose headers match, read until `quietMs` pass without a new message. */
export async function readDlq(kafka: Kafka, from: Offsets[string], match: (h: Record<string, string>) => boolean, quietMs = 4000, topic = TOPIC_DLQ): Promise<DlqMessage[]> {
  const groupId = await groupAt(kafka, `itest-dlq-${randomBytes(4).toString('hex')}`, { [topic]: from });
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic] });
  const out: DlqMessage[] = [];
  let last = Date.now();
  try {
    await consumer.run({
      eachMessage: async ({ message }) => {
        last = Date.now();
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        if (match(headers)) out.push({ key: message.key, value: message.value, headers });
      },
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() - last < quietMs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

export function esClient(): Client {
  return new Client(esClientOptions());
}

/** Connection documents of one host (each test uses its own host name). */
export async function countConnections(es: Client, host: string, extra: object[] = []): Promise<number> {
  await es.indices.refresh({ index: INDEX_CONNECTIONS });
  return (await es.count({ index: INDEX_CONNECTIONS, query: { bool: { filter: [{ term: { 'host.name': host } }, ...extra] } } })).count;
}

export async function searchAlerts(es: Client, query: object): Promise<Array<Record<string, unknown>>> {
  await es.indices.refresh({ index: INDEX_ALERTS });
  const r = await es.search({ index: INDEX_ALERTS, query, size: 100 });
  return r.hits.hits.map((h) => h._source as Record<string, unknown>);
}
