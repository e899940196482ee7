import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Socket } from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import kafkajs from 'kafkajs';
import type { ISocketFactory, Kafka as KafkaClient, KafkaConfig, LogEntry, ProducerConfig, RetryOptions, SASLOptions } from 'kafkajs';
import { UserError } from './errors.js';
import { registerCompressionCodecs } from './kafka-codecs.js';
import type { Logger } from './log.js';
import { DEFAULT_KAFKA_BROKERS } from './names.js';

// The one way connaudit talks to Kafka: the agent's producer, the pipeline's
// consumers and producers, `services` and the tests all build their client here.
//
// Environment (every command reads the same names):
//   KAFKA_BROKERS          comma-separated host:port list (default 127.0.0.1:9092)
//   KAFKA_SASL_MECHANISM   plain | scram-sha-256 | scram-sha-512 (default plain when a username is set)
//   KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD
//   KAFKA_SSL=true         TLS with the system CA store; implied by any of:
//   KAFKA_CA_CERT          PEM CA bundle that signed the brokers' certificates
//   KAFKA_CLIENT_CERT / KAFKA_CLIENT_KEY   PEM client certificate and key (mutual TLS)
//   KAFKA_TLS_SERVERNAME   name the broker certificate must carry, when it differs
//                          from the host in KAFKA_BROKERS (e.g. brokers given by IP)
// Certificates are always verified: there is no switch to turn that off.

const { Kafka, logLevel, Partitioners } = kafkajs;

registerCompressionCodecs();

/** A setting that cannot work; names the variable so the operator knows what to fix. */
export class KafkaSettingsError extends UserError {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`, 'fix the environment variable named above (see lib/kafka.ts for every KAFKA_* setting)');
  }
}

/**
 * The single retry policy for Kafka requests (connect, metadata, produce,
 * commit). Short and bounded on purpose: the agent must fall back to its spool
 * within seconds, and the pipeline restarts its consumer (which re-reads from
 * the last commit) rather than piling retries on retries. Nothing else in
 * connaudit retries a Kafka request: producers and consumers inherit this.
 * Worst case about 0.25+0.5+1+2+2 ≈ 6 s (±20 % jitter) before a call fails.
 */
export const KAFKA_RETRY: Readonly<RetryOptions> = Object.freeze({ retries: 5, initialRetryTime: 250, maxRetryTime: 2_000, factor: 0.2, multiplier: 2 });

export const KAFKA_CONNECTION_TIMEOUT_MS = 5_000;

/**
 * Producer settings shared by the agent and the pipeline's producers.
 * Idempotent (KIP-98: producer id + sequence numbers) needs acks=-1 and one
 * request in flight. murmur2 partitioning, as the Java client: the same key
 * lands on the same partition whichever client wrote it.
 */
export const PRODUCER_SETTINGS: Readonly<ProducerConfig> = Object.freeze({
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
});

export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(',').map((s) => s.trim()).filter(Boolean);
}

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
type Mechanism = (typeof MECHANISMS)[number];

export function kafkaSasl(env: NodeJS.ProcessEnv = process.env): SASLOptions | undefined {
  const mechanism = (env.KAFKA_SASL_MECHANISM ?? 'plain').toLowerCase();
  if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new KafkaSettingsError('KAFKA_SASL_MECHANISM', `"${env.KAFKA_SASL_MECHANISM}" is not supported; use one of ${MECHANISMS.join(', ')}`);
  }
  if (!env.KAFKA_SASL_USERNAME) {
    if (env.KAFKA_SASL_MECHANISM) throw new KafkaSettingsError('KAFKA_SASL_USERNAME', `is required with KAFKA_SASL_MECHANISM=${mechanism}`);
    return undefined;
  }
  return { mechanism: mechanism as Mechanism, username: env.KAFKA_SASL_USERNAME, password: env.KAFKA_SASL_PASSWORD ?? '' } as SASLOptions;
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KafkaSettingsError(variable, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** TLS options for kafkajs (passed to tls.connect), or false for plaintext. */
export function kafkaTls(env: NodeJS.ProcessEnv = process.env): ConnectionOptions | false {
  const wanted = env.KAFKA_SSL === 'true' || Boolean(env.KAFKA_CA_CERT || env.KAFKA_CLIENT_CERT || env.KAFKA_TLS_SERVERNAME);
  if (!wanted) return false;
  if (Boolean(env.KAFKA_CLIENT_CERT) !== Boolean(env.KAFKA_CLIENT_KEY)) {
    throw new KafkaSettingsError(env.KAFKA_CLIENT_CERT ? 'KAFKA_CLIENT_KEY' : 'KAFKA_CLIENT_CERT', 'client certificate and key must be given together');
  }
  const tls: ConnectionOptions = { rejectUnauthorized: true };
  if (env.KAFKA_CA_CERT) tls.ca = readPem('KAFKA_CA_CERT', env.KAFKA_CA_CERT);
  if (env.KAFKA_CLIENT_CERT) tls.cert = readPem('KAFKA_CLIENT_CERT', env.KAFKA_CLIENT_CERT);
  if (env.KAFKA_CLIENT_KEY) tls.key = readPem('KAFKA_CLIENT_KEY', env.KAFKA_CLIENT_KEY);
  if (env.KAFKA_TLS_SERVERNAME) tls.servername = env.KAFKA_TLS_SERVERNAME;
  return tls;
}

/** Client settings from the environment, with the one retry policy. */
export function kafkaConfig(clientId: string, env: NodeJS.ProcessEnv = process.env): KafkaConfig {
  const cfg: KafkaConfig = {
    clientId,
    brokers: kafkaBrokers(env),
    connectionTimeout: KAFKA_CONNECTION_TIMEOUT_MS,
    retry: { ...KAFKA_RETRY },
  };
  const ssl = kafkaTls(env);
  if (ssl) cfg.ssl = ssl;
  const sasl = kafkaSasl(env);
  if (sasl) cfg.sasl = sasl;
  return cfg;
}

/** For log lines and /healthz: where and how we connect, never with what secret. */
export function describeKafka(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const sasl = env.KAFKA_SASL_USERNAME ? (env.KAFKA_SASL_MECHANISM ?? 'plain').toLowerCase() : 'none';
  return { kafka: kafkaBrokers(env), kafkaTls: kafkaTls(env) !== false, kafkaSasl: sasl };
}

/**
 * During an outage kafkajs logs every refused connection and every backoff
 * step (about 80 lines for a 6 s outage). Callers log the outage once, with
 * the cause, so these namespaces go to debug.
 */
const OUTAGE_NAMESPACES = new Set(['Connection', 'BrokerPool']);

/** kafkajs log lines to pino. kafkajs ERRORs become warnings: the caller reports the outcome itself. */
export function kafkaLogCreator(log: Logger): NonNullable<KafkaConfig['logCreator']> {
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const { message, ...rest } = entry;
    // kafkajs can put the broker's SASL error text here, never the password; the
    // logger's redact paths cover config objects should one ever be attached.
    const fields = { kafkajs: namespace, ...rest };
    // Expected: retries are bounded on purpose (see KAFKA_RETRY).
    if (message.includes('Limiting retries for the idempotent producer')) return log.debug(fields, message);
    if (level <= logLevel.WARN && !OUTAGE_NAMESPACES.has(namespace)) log.warn(fields, message);
    else log.debug(fields, message);
  };
}

/**
 * Counts the bytes a client writes to its broker sockets: Produce requests
 * with their compressed batches, plus every protocol overhead (metadata,
 * SASL, heartbeats). That is what "bytes per record on the wire" means in
 * agent-health and `connaudit bench`. kafkajs's own request events report
 * response sizes only, so the count is taken at the socket. With TLS it is
 * the bytes handed to TLS (before the record layer's ~29 B per 16 KiB).
 */
export class WireMeter {
  private closedBytes = 0;
  private readonly open = new Set<Socket>();

  readonly socketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    // The same connect call kafkajs makes by default (src/network/socketFactory.js).
    const socket: Socket = ssl
      ? tls.connect({ host, port, ...(!net.isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    this.open.add(socket);
    socket.once('close', () => { this.closedBytes += socket.bytesWritten; this.open.delete(socket); });
    return socket;
  };

  bytesSent(): number {
    let n = this.closedBytes;
    for (const s of this.open) n += s.bytesWritten;
    return n;
  }
}

export interface CreateKafkaOptions {
  clientId: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Count the bytes this client sends (see WireMeter). */
  meter?: WireMeter;
}

/** A kafkajs client with connaudit's settings, security and logging. Throws KafkaSettingsError on bad settings. */
export function createKafka(o: CreateKafkaOptions): KafkaClient {
  return new Kafka({
    ...kafkaConfig(o.clientId, o.env),
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(o.log),
    ...(o.meter ? { socketFactory: o.meter.socketFactory } : {}),
  });
}
