import { Client } from '@elastic/elasticsearch';
import type { Kafka, Producer as KafkaProducer } from 'kafkajs';
import { endpoints, esClientOptions } from '../lib/connect.js';
import { createKafka, kafkaBrokers, PRODUCER_SETTINGS } from '../lib/kafka.js';
import { compressionType } from '../lib/kafka-codecs.js';
import type { Logger } from '../lib/log.js';
import { ensureTopics } from '../lib/topics.js';
import { bootstrapElasticsearch, type BootstrapResult, type IndexTuning } from './es-bootstrap.js';
import type { LifecycleSettings } from './lifecycle.js';
import type { Producer } from './messages.js';
import { waitFor, type WaitOptions } from './startup.js';

// The pipeline's two clusters, each reached once at start: wait until it
// answers, then prepare it (index templates and write aliases; topics).

export interface EsSide {
  /** Start-up, templates, conflict look-ups, SLO summaries: the client's own retries (3) apply. */
  admin: Client;
  /**
   * Bulk writes only. maxRetries 0: bulkIndex (bulk.ts) is the one retry
   * layer for writes; a client retrying underneath would send one failing
   * batch attempts × 4 times.
   */
  bulk: Client;
  /** What the cluster supports; with lifecycle 'local' the pipeline rolls over and deletes itself. */
  boot: BootstrapResult;
  close(): Promise<void>;
}

export async function connectElasticsearch(env: NodeJS.ProcessEnv | undefined, wait: WaitOptions, lifecycle?: LifecycleSettings, tuning?: IndexTuning): Promise<EsSide> {
  const admin = new Client(esClientOptions(env));
  const bulk = new Client({ ...esClientOptions(env), maxRetries: 0 });
  const close = async () => {
    await Promise.all([admin.close(), bulk.close()]).catch(() => undefined);
  };
  const where = endpoints(env).esUrl.replace(/\/\/[^@/]*@/, '//');
  try {
    // Cluster health, not GET /: some distributions and proxies refuse the
    // root. Through the client without retries, so each probe answers fast and
    // waitFor's backoff is the only one.
    await waitFor('Elasticsearch', where, async () => {
      await bulk.cluster.health({ timeout: '5s' }, { requestTimeout: 10_000 });
    }, wait);
    const boot = await bootstrapElasticsearch(admin, wait.log, undefined, lifecycle, tuning);
    return { admin, bulk, boot, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// A batch of re-keyed documents can be larger than the broker accepts in one
// request (message.max.bytes, 1 MiB by default, applies to a partition's whole
// record batch), and a refused request leaves the idempotent producer's
// sequence numbers out of order, so every later send fails too. Messages
// therefore go out compressed, in sends of at most SEND_CHUNK_BYTES.
export const SEND_CHUNK_BYTES = 256 * 1024;
const SEND_COMPRESSION = compressionType('zstd');

const sizeOf = (v: Buffer | string | null): number => (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);

export function sendChunks<M extends { key: Buffer | string | null; value: Buffer | string | null; headers?: Record<string, string> }>(messages: M[], limit = SEND_CHUNK_BYTES): M[][] {
  const chunks: M[][] = [];
  let chunk: M[] = [];
  let bytes = 0;
  for (const m of messages) {
    let size = sizeOf(m.key) + sizeOf(m.value);
    for (const [k, v] of Object.entries(m.headers ?? {})) size += k.length + Buffer.byteLength(v);
    if (chunk.length > 0 && bytes + size > limit) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

export interface KafkaSide {
  kafka: Kafka;
  producer: Producer;
  disconnect(): Promise<void>;
}

export async function connectKafka(clientId: string, env: NodeJS.ProcessEnv | undefined, wait: WaitOptions, topics?: Parameters<typeof ensureTopics>[1]): Promise<KafkaSide> {
  const kafka = createKafka({ clientId, log: wait.log, env });
  const log: Logger = wait.log;
  await waitFor('Kafka', kafkaBrokers(env).join(','), async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const changes = await ensureTopics(admin, topics);
      if (changes.created.length || changes.widened.length) log.info(changes, 'prepared Kafka topics');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }, wait);
  const p: KafkaProducer = kafka.producer({ ...PRODUCER_SETTINGS });
  await p.connect();
  return {
    kafka,
    producer: {
      async send(topic, messages) {
        for (const chunk of sendChunks(messages)) {
          await p.send({ topic, compression: SEND_COMPRESSION, messages: chunk.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
        }
      },
    },
    disconnect: () => p.disconnect(),
  };
}
