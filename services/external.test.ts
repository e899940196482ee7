import { describe, expect, it } from 'vitest';
import { displayUrl, isLocalEs, isLocalKafka, targets } from './external.js';

describe('local or external', () => {
  it.each([
    [['127.0.0.1:9092'], true],
    [['localhost:9092'], true],
    [['127.0.0.1:9093'], false],
    [['kafka.example:9092'], false],
    [['127.0.0.1:9092', 'localhost:9092'], false],
  ])('Kafka %j local=%s', (brokers, local) => {
    expect(isLocalKafka(brokers)).toBe(local);
  });

  it.each([
    ['http://127.0.0.1:9200', true],
    ['http://localhost:9200/', true],
    ['https://127.0.0.1:9200', false],
    ['http://127.0.0.1:9201', false],
    ['http://es.example:9200', false],
    ['http://127.0.0.1:9200/prefix', false],
    ['not a url', false],
  ])('Elasticsearch %s local=%s', (url, local) => {
    expect(isLocalEs(url)).toBe(local);
  });

  it('a managed service moved to another port (CONNAUDIT_KAFKA_PORT / CONNAUDIT_ES_PORT) is still local there, and only there', () => {
    expect(isLocalKafka(['127.0.0.1:29092'], 29092)).toBe(true);
    expect(isLocalKafka(['127.0.0.1:9092'], 29092)).toBe(false);
    expect(isLocalEs('http://127.0.0.1:9210', 9210)).toBe(true);
    expect(isLocalEs('http://127.0.0.1:9200', 9210)).toBe(false);
  });

  it('defaults are local; the environment makes them external', () => {
    expect(targets({})).toEqual({ kafka: { brokers: ['127.0.0.1:9092'], local: true }, es: { url: 'http://127.0.0.1:9200', local: true } });
    const t = targets({ KAFKA_BROKERS: 'k1:9092,k2:9092', ES_URL: 'https://es:9200' });
    expect(t.kafka.local).toBe(false);
    expect(t.es.local).toBe(false);
  });

  it('never shows credentials embedded in a URL', () => {
    expect(displayUrl('https://elastic:s3cret@es:9200')).toBe('https://es:9200');
  });
});
