import { describe, expect, it } from 'vitest';
import { isClusterId, kafkaJvmArgs, log4jProperties, newClusterId, serverProperties } from './kafka-config.js';

const props = (text: string) => new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('=', 2) as [string, string]));

describe('serverProperties', () => {
  const p = props(serverProperties({ host: '127.0.0.1', port: 9092, controllerPort: 9093, dataDir: '/d' }));

  it('is a combined KRaft broker+controller on loopback', () => {
    expect(p.get('process.roles')).toBe('broker,controller');
    expect(p.get('controller.quorum.voters')).toBe('1@127.0.0.1:9093');
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093');
    expect(p.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:9092');
    expect(p.get('log.dirs')).toBe('/d');
  });

  it('sizes internal topics for one broker and does not delay the first rebalance', () => {
    expect(p.get('offsets.topic.replication.factor')).toBe('1');
    expect(p.get('transaction.state.log.replication.factor')).toBe('1');
    expect(p.get('group.initial.rebalance.delay.ms')).toBe('0');
  });
});

describe('cluster id', () => {
  it('is 22 base64url characters', () => {
    const id = newClusterId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(isClusterId(id)).toBe(true);
  });

  it('never starts with "-" and is never all zeros, like Kafka\'s Uuid.randomUuid()', () => {
    const draws = [Buffer.alloc(16, 0xfb), Buffer.alloc(16, 0), Buffer.alloc(16, 7)];
    // 0xfb... encodes to "-_..."; all-zero is Kafka's reserved ZERO_UUID.
    expect(draws[0]!.toString('base64url').startsWith('-')).toBe(true);
    const id = newClusterId(() => draws.shift()!);
    expect(id).toBe(Buffer.alloc(16, 7).toString('base64url'));
  });

  it.each(['', 'short', '-startsWithDashxxxxxxx', 'has space in it xxxxxx'])('rejects %j', (s) => {
    expect(isClusterId(s)).toBe(false);
  });
});

describe('JVM and logging', () => {
  it('runs kafka.Kafka with a capped heap and our log4j file', () => {
    const a = kafkaJvmArgs({ heapMb: 512, log4jFile: '/r/log4j.properties', logsDir: '/r/logs', classpath: '/c/*', propertiesFile: '/r/server.properties' });
    expect(a).toContain('-Xmx512m');
    expect(a).toContain('-Dlog4j.configuration=file:/r/log4j.properties');
    expect(a.slice(-4)).toEqual(['-cp', '/c/*', 'kafka.Kafka', '/r/server.properties']);
  });

  it('logs to a size-capped file, not the console', () => {
    const l = log4jProperties();
    expect(l).toMatch(/^log4j\.rootLogger=INFO, file$/m);
    expect(l).toMatch(/RollingFileAppender/);
    expect(l).not.toMatch(/ConsoleAppender/);
  });
});
