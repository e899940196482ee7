import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaConfig, kafkaLogCreator } from '../lib/kafka.js';
import { createLogger } from '../lib/log.js';

// kafkajs logs through lib/kafka.ts's pino log creator; a probe is silent
// while polling a broker that is still starting (every refused connection
// would otherwise be an ERROR line).

const log = createLogger('services.kafka');

export function kafkaAdmin(brokers: string[], opts: { quiet: boolean }): Admin {
  const base = kafkaConfig('connaudit-services', { ...process.env, KAFKA_BROKERS: brokers.join(',') });
  const kafka = new Kafka({
    ...base,
    // A probe should answer fast and not retry: the caller's loop does the waiting.
    ...(opts.quiet ? { connectionTimeout: 1500, requestTimeout: 3000, retry: { retries: 0 } } : {}),
    logLevel: opts.quiet ? logLevel.NOTHING : logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  });
  return kafka.admin();
}

export interface KafkaProbe {
  ok: boolean;
  clusterId?: string;
  brokers?: string[];
  topics?: string[];
  error?: string;
}

/** One Metadata round trip: proves the broker answers the Kafka protocol, not just that the port is open. */
export async function probeKafka(brokers: string[]): Promise<KafkaProbe> {
  const admin = kafkaAdmin(brokers, { quiet: true });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
    return { ok: true, clusterId: cluster.clusterId, brokers: cluster.brokers.map((b) => `${b.host}:${b.port}`), topics };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
