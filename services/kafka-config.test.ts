import { describe, expect, it } from 'vitest';
import { kafkaPom, slf4jBinding } from './fetch.js';
import { isClusterId, kafkaJvmArgs, log4jProperties, logConfigFlag, newClusterId, serverProperties } from './kafka-config.js';
import { envPort, KAFKA_DEFAULT_VERSION, KAFKA_MAJOR } from './layout.js';

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
  it('runs kafka.Kafka with a capped heap and our logging file', () => {
    const a = kafkaJvmArgs({ heapMb: 512, log4jFile: '/r/log4j.properties', logsDir: '/r/logs', classpath: '/c/*', propertiesFile: '/r/server.properties' });
    expect(a).toContain('-Xmx512m');
    expect(a).toContain(logConfigFlag('/r/log4j.properties'));
    expect(a.slice(-4)).toEqual(['-cp', '/c/*', 'kafka.Kafka', '/r/server.properties']);
  });

  it('points Kafka 4 at a log4j2 file and Kafka 3 at a log4j 1.x file', () => {
    expect(logConfigFlag('/r/l.properties', 4)).toBe('-Dlog4j2.configurationFile=/r/l.properties');
    expect(logConfigFlag('/r/l.properties', 3)).toBe('-Dlog4j.configuration=file:/r/l.properties');
  });

  it('Kafka 3 (log4j 1.x): logs to a size-capped file, not the console', () => {
    const l = log4jProperties(3);
    expect(l).toMatch(/^log4j\.rootLogger=INFO, file$/m);
    expect(l).toMatch(/RollingFileAppender/);
    expect(l).not.toMatch(/ConsoleAppender/);
  });

  it('Kafka 4 (log4j2): logs to a size-capped server.log under kafka.logs.dir, not the console', () => {
    const l = log4jProperties(4);
    expect(l).toMatch(/^appender\.file\.type = RollingFile$/m);
    expect(l).toMatch(/^appender\.file\.fileName = \$\{sys:kafka\.logs\.dir\}\/server\.log$/m);
    expect(l).toMatch(/^appender\.file\.policies\.size\.size = 20MB$/m);
    expect(l).toMatch(/^rootLogger\.appenderRef\.file\.ref = file$/m);
    expect(l).not.toMatch(/Console/);
  });
});

describe('versions and fetch', () => {
  it('defaults to a Kafka 4.x broker', () => {
    expect(KAFKA_DEFAULT_VERSION).toMatch(/^4\.\d+\.\d+$/);
    if (!process.env.CONNAUDIT_KAFKA_VERSION) expect(KAFKA_MAJOR).toBe(4);
  });

  it('adds the slf4j binding the release tarball ships: the log4j2 bridge for 4.x, reload4j for 3.x', () => {
    expect(slf4jBinding('4.4.0')).toMatchObject({ groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl' });
    expect(slf4jBinding('3.9.2')).toMatchObject({ groupId: 'org.slf4j', artifactId: 'slf4j-reload4j' });
    const pom = kafkaPom('4.4.0', '2.13');
    // Kafka first: Maven then keeps Kafka's own log4j-api/core versions over the bridge's.
    expect(pom.indexOf('<artifactId>kafka_2.13</artifactId><version>4.4.0</version>')).toBeGreaterThan(0);
    expect(pom.indexOf('kafka_2.13')).toBeLessThan(pom.indexOf('log4j-slf4j-impl'));
  });

  it('reads port overrides from the environment and rejects a typo', () => {
    expect(envPort('P', 9092, {})).toBe(9092);
    expect(envPort('P', 9092, { P: '29092' })).toBe(29092);
    expect(() => envPort('P', 9092, { P: '29O92' })).toThrow(/P=29O92 is not a TCP port/);
    expect(() => envPort('P', 9092, { P: '70000' })).toThrow(/not a TCP port/);
  });
});
