import { Client } from '@elastic/elasticsearch';
import type { Kafka, Producer as KafkaProducer } from 'kafkajs';
import { endpoints, esClientOptions } from '../lib/connect.js';
import { createKafka, kafkaBrokers, PRODUCER_SETTINGS } from '../lib/kafka.js';
import type { Logger } from '../lib/log.js';
import { ensureTopics } from '../lib/topics.js';
import { bootstrapElasticsearch, type BootstrapResult } from './es-bootstrap.js';
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

export async function connectElasticsearch(env: NodeJS.ProcessEnv | undefined, wait: WaitOptions, lifecycle?: LifecycleSettings): Promise<EsSide> {
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
    const boot = await bootstrapElasticsearch(admin, wait.log, undefined, lifecycle);
    return { admin, bulk, boot, close };
  } catch (err) {
    await close();
    throw err;
  }
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
        await p.send({ topic, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
      },
    },
    disconnect: () => p.disconnect(),
  };
}
