import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaSink } from '../../agent/kafka-sink.js';
import { decodeConnection } from '../../lib/avro.js';
import { createKafka } from '../../lib/kafka.js';
import { TOPIC_CONNECTIONS } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { skipUnless } from '../helpers/env.js';
import { makeTestCa, type TestCa } from '../helpers/test-ca.js';
import { ThrowawayBroker } from '../helpers/throwaway-broker.js';
import { record } from '../helpers/records.js';

// Transport security against a real broker: a throwaway KRaft broker with a
// SASL_SSL listener (SCRAM-SHA-256 and -512 users created at format time,
// mutual TLS with a CA made by this test). The agent's producer and a
// consumer built by lib/kafka.ts go through it; wrong credentials, an
// untrusted CA and a server name mismatch each fail with an error that says so.

const PORT = 19292;
const CONTROLLER_PORT = 19293;
const SECURE_PORT = 19294;
const SERVER_NAME = 'kafka.connaudit.test';
const run = randomBytes(4).toString('hex');
const HOST = `it-scram-${run}`;
const progress = (text: string): void => { process.stderr.write(`[kafka-scram-tls] ${text}\n`); };

function memLog() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const rec = (i: number): ConnectionRecord => record(i, { host: HOST });

const tmp = mkdtempSync(join(tmpdir(), 'kafka-scram-it-'));
let ca: TestCa;
let broker: ThrowawayBroker;
let secure: NodeJS.ProcessEnv;

/** Starts the secured broker once, for whichever test needs it first. */
let started: Promise<void> | null = null;
const ready = (): Promise<void> => (started ??= setup());

async function setup(): Promise<void> {
  mkdirSync(join(tmp, 'pki'));
  ca = makeTestCa(join(tmp, 'pki'), SERVER_NAME);
  broker = new ThrowawayBroker({
    dir: join(tmp, 'kafka'), port: PORT, controllerPort: CONTROLLER_PORT,
    extraProperties: {
      listeners: `PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT},SASL_SSL://127.0.0.1:${SECURE_PORT}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${PORT},SASL_SSL://127.0.0.1:${SECURE_PORT}`,
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
      'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': ca.serverKeystore,
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': ca.ca,
      'listener.name.sasl_ssl.ssl.client.auth': 'required',
    },
    formatArgs: ['--add-scram', 'SCRAM-SHA-512=[name=agent,password=agent-secret-512]', '--add-scram', 'SCRAM-SHA-256=[name=pipeline,password=pipe-secret-256]'],
  });
  progress(`starting a throwaway broker with SASL_SSL on 127.0.0.1:${SECURE_PORT}`);
  broker.format();
  await broker.start();
  secure = {
    KAFKA_BROKERS: `127.0.0.1:${SECURE_PORT}`, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'agent', KAFKA_SASL_PASSWORD: 'agent-secret-512',
    KAFKA_CA_CERT: ca.ca, KAFKA_CLIENT_CERT: ca.clientCert, KAFKA_CLIENT_KEY: ca.clientKey, KAFKA_TLS_SERVERNAME: SERVER_NAME,
  };
  const admin = createKafka({ clientId: 'it-admin', env: secure, log: memLog().log }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC_CONNECTIONS, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
}

afterAll(async () => {
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 90_000);

/** Produces n records through the agent's sink; returns the error flush() threw, if any. */
async function produce(env: NodeJS.ProcessEnv, from: number, n: number): Promise<{ err: Error | null; lines: string[] }> {
  const { log, lines } = memLog();
  const sink = new KafkaSink({ env, health: false, log, lingerMs: 1 });
  for (let i = from; i < from + n; i++) await sink.write(rec(i));
  let err: Error | null = null;
  try { await sink.flush(); } catch (e) { err = e as Error; }
  await sink.close().catch(() => undefined);
  return { err, lines };
}

async function consumeAll(env: NodeJS.ProcessEnv, expected: number): Promise<string[]> {
  const consumer = createKafka({ clientId: 'it-consumer', env, log: memLog().log }).consumer({ groupId: `it-scram-${run}-${randomBytes(3).toString('hex')}` });
  const ids: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPIC_CONNECTIONS, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((r) => { finish = r; });
    await consumer.run({ eachMessage: async ({ message }) => { ids.push(decodeConnection(message.value!).event_id); if (ids.length >= expected) finish(); } });
    await Promise.race([finished, new Promise((r) => setTimeout(r, 30_000))]);
  } finally {
    await consumer.disconnect();
  }
  return ids;
}

describe('Kafka over SASL_SSL with SCRAM and mutual TLS (throwaway broker)', () => {
  it('the agent produces with SCRAM-SHA-512 and a consumer reads with SCRAM-SHA-256, all records, in order', async (ctx) => {
    if (await skipUnless(ctx, 'kafka')) return;
    await ready();
    const { err, lines } = await produce(secure, 0, 200);
    expect(err).toBeNull();
    expect(lines.join('')).not.toContain('agent-secret-512');
    const ids = await consumeAll({ ...secure, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'pipeline', KAFKA_SASL_PASSWORD: 'pipe-secret-256' }, 200);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => rec(i).event_id));
  }, 300_000);

  it('a wrong password fails with the SASL error, and the password is never logged', async (ctx) => {
    if (await skipUnless(ctx, 'kafka')) return;
    await ready();
    const { err, lines } = await produce({ ...secure, KAFKA_SASL_PASSWORD: 'not-the-password' }, 1000, 3);
    expect(err?.message).toMatch(/Kafka did not acknowledge 3 record\(s\): SASL SCRAM SHA512 authentication failed/);
    expect(lines.join('')).not.toContain('not-the-password');
  }, 120_000);

  it('refuses a broker whose certificate the CA bundle does not vouch for, and one whose name does not match', async (ctx) => {
    if (await skipUnless(ctx, 'kafka')) return;
    await ready();
    const { KAFKA_CA_CERT: _ca, ...noCa } = secure;
    const untrusted = await produce({ ...noCa, KAFKA_SSL: 'true' }, 2000, 1);
    expect(untrusted.err?.message).toMatch(/unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate/);
    const { KAFKA_TLS_SERVERNAME: _n, ...noName } = secure;
    const mismatch = await produce(noName, 3000, 1);
    expect(mismatch.err?.message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list|does not match certificate's altnames/);
  }, 180_000);
});
