import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import kafkajs from 'kafkajs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { describeEndpoints } from './connect.js';
import { compressionType } from './kafka-codecs.js';
import { KAFKA_RETRY, KafkaSettingsError, describeKafka, kafkaConfig, kafkaLogCreator } from './kafka.js';

function memLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const pemDir = mkdtempSync(join(tmpdir(), 'kafka-test-'));
const pem = (name: string) => { const p = join(pemDir, name); writeFileSync(p, `-----BEGIN ${name}-----\n`); return p; };

describe('kafkaConfig', () => {
  it('plaintext without SASL by default, with the one retry policy', () => {
    const c = kafkaConfig('x', { KAFKA_BROKERS: 'a:1, b:2' });
    expect(c.brokers).toEqual(['a:1', 'b:2']);
    expect(c.ssl).toBeUndefined();
    expect(c.sasl).toBeUndefined();
    expect(c.retry).toEqual(KAFKA_RETRY);
  });

  it.each(['plain', 'scram-sha-256', 'SCRAM-SHA-512'])('SASL mechanism %s', (m) => {
    const c = kafkaConfig('x', { KAFKA_SASL_MECHANISM: m, KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' });
    expect(c.sasl).toEqual({ mechanism: m.toLowerCase(), username: 'u', password: 'p' });
  });

  it('PLAIN when only a username is given (compatible with older settings)', () => {
    expect(kafkaConfig('x', { KAFKA_SASL_USERNAME: 'u' }).sasl).toEqual({ mechanism: 'plain', username: 'u', password: '' });
  });

  it('refuses an unknown mechanism and a mechanism without a user, naming the variable', () => {
    expect(() => kafkaConfig('x', { KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u' })).toThrow(/KAFKA_SASL_MECHANISM: "gssapi" is not supported; use one of plain, scram-sha-256, scram-sha-512/);
    expect(() => kafkaConfig('x', { KAFKA_SASL_MECHANISM: 'scram-sha-256' })).toThrow(KafkaSettingsError);
    expect(() => kafkaConfig('x', { KAFKA_SASL_MECHANISM: 'scram-sha-256' })).toThrow(/KAFKA_SASL_USERNAME: is required/);
  });

  it('TLS with CA, client cert+key and a server name; certificates always verified', () => {
    const ca = pem('CA'); const cert = pem('CERT'); const key = pem('KEY');
    const c = kafkaConfig('x', { KAFKA_CA_CERT: ca, KAFKA_CLIENT_CERT: cert, KAFKA_CLIENT_KEY: key, KAFKA_TLS_SERVERNAME: 'kafka.test' });
    expect(c.ssl).toMatchObject({ rejectUnauthorized: true, servername: 'kafka.test' });
    const ssl = c.ssl as { ca: Buffer; cert: Buffer; key: Buffer };
    expect([ssl.ca, ssl.cert, ssl.key].map(String)).toEqual(['-----BEGIN CA-----\n', '-----BEGIN CERT-----\n', '-----BEGIN KEY-----\n']);
    expect(kafkaConfig('x', { KAFKA_SSL: 'true' }).ssl).toEqual({ rejectUnauthorized: true });
  });

  it('names the variable and path of an unreadable PEM, and a cert without its key', () => {
    expect(() => kafkaConfig('x', { KAFKA_CA_CERT: '/nonexistent/ca.pem' })).toThrow('KAFKA_CA_CERT: cannot read /nonexistent/ca.pem: ENOENT');
    expect(() => kafkaConfig('x', { KAFKA_CLIENT_CERT: pem('C2') })).toThrow(/KAFKA_CLIENT_KEY: client certificate and key must be given together/);
  });
});

describe('describing endpoints for logs', () => {
  it('never carries a secret, and says which auth is in use', () => {
    const env = { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'agent', KAFKA_SASL_PASSWORD: 's3cret', KAFKA_SSL: 'true', ES_URL: 'https://elastic:pw123@es.example:9200' };
    const d = describeEndpoints(env);
    expect(JSON.stringify(d)).not.toMatch(/s3cret|pw123/);
    expect(d).toMatchObject({ kafkaTls: true, kafkaSasl: 'scram-sha-512', elasticsearch: 'https://es.example:9200', esAuth: 'basic_in_url', esTls: true });
    expect(describeEndpoints({}).esAuth).toBe('none');
    expect(describeEndpoints({ ES_API_KEY: 'k' }).esAuth).toBe('api_key');
    expect(describeKafka({})).toEqual({ kafka: ['127.0.0.1:9092'], kafkaTls: false, kafkaSasl: 'none' });
  });
});

describe('compression codecs', () => {
  it.each(['lz4', 'zstd', 'gzip'] as const)('%s round-trips through the kafkajs codec table', async (name) => {
    const codecs = kafkajs.CompressionCodecs as Record<number, () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> }>;
    const codec = codecs[compressionType(name)]!();
    const input = Buffer.from('connaudit '.repeat(200));
    const packed = await codec.compress({ buffer: input });
    expect(packed.length).toBeLessThan(input.length / 5);
    expect(Buffer.compare(await codec.decompress(packed), input)).toBe(0);
  });
});

describe('kafkaLogCreator', () => {
  it('keeps kafkajs quiet: outage chatter and the bounded-retries notice at debug, other problems at warn', () => {
    const { log, lines } = memLog();
    const logFn = kafkaLogCreator(log)(4);
    const entry = (message: string) => ({ message, timestamp: 't', logger: 'kafkajs' });
    logFn({ namespace: 'Connection', level: 1, label: 'ERROR', log: entry('Connection error: connect ECONNREFUSED') });
    logFn({ namespace: 'BrokerPool', level: 1, label: 'ERROR', log: entry('Failed to connect to seed broker') });
    logFn({ namespace: 'Producer', level: 2, label: 'WARN', log: entry('Limiting retries for the idempotent producer may invalidate EoS guarantees') });
    logFn({ namespace: 'Producer', level: 1, label: 'ERROR', log: entry('Failed to send messages: SASL authentication failed') });
    logFn({ namespace: 'Cluster', level: 4, label: 'INFO', log: entry('metadata refreshed') });
    expect(lines.map((l) => [l.level, l.kafkajs])).toEqual([[20, 'Connection'], [20, 'BrokerPool'], [20, 'Producer'], [40, 'Producer'], [20, 'Cluster']]);
  });
});
