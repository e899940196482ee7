import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listJdks, pickKafkaJdk } from '../../services/jdk.js';
import { probeKafka } from '../../services/kafka-client.js';
import { kafkaJvmArgs, log4jProperties, newClusterId, serverProperties } from '../../services/kafka-config.js';
import { KAFKA_MIN_JAVA, kafkaLibs } from '../../services/layout.js';

// A KRaft broker of the test's own (same jars and settings as `connaudit
// services up`), on ports the test picks and with a data dir under /tmp, so a
// test can stop, kill or secure it without touching the shared broker on 9092.
// Each test file uses its own ports: files run in parallel.

export interface ThrowawayBrokerOptions {
  dir: string;
  port: number;
  controllerPort: number;
  /** Lines appended to server.properties (later keys win), e.g. a SASL_SSL listener. */
  extraProperties?: Record<string, string | number>;
  /** Extra arguments to `kafka-storage format`, e.g. --add-scram. */
  formatArgs?: string[];
}

export class ThrowawayBroker {
  private child: ChildProcess | null = null;
  readonly props: string;
  readonly logs: string;
  readonly brokers: string;

  constructor(private readonly o: ThrowawayBrokerOptions) {
    this.props = join(o.dir, 'server.properties');
    this.logs = join(o.dir, 'logs');
    this.brokers = `127.0.0.1:${o.port}`;
  }

  private java(): string {
    const jdk = pickKafkaJdk(listJdks(), KAFKA_MIN_JAVA);
    if (!jdk) throw new Error(`no JDK ${KAFKA_MIN_JAVA}+ under /usr/lib/jvm; apt-get install openjdk-17-jdk-headless`);
    if (!existsSync(kafkaLibs)) throw new Error(`${kafkaLibs} is missing; run \`connaudit services up\` once to fetch Kafka`);
    return join(jdk.home, 'bin', 'java');
  }

  /** Writes the config and formats the storage: once per broker. */
  format(): void {
    mkdirSync(this.logs, { recursive: true });
    const base = serverProperties({ host: '127.0.0.1', port: this.o.port, controllerPort: this.o.controllerPort, dataDir: join(this.o.dir, 'data') });
    const extra = Object.entries(this.o.extraProperties ?? {}).map(([k, v]) => `${k}=${v}`).join('\n');
    writeFileSync(this.props, `${base}${extra}\n`);
    writeFileSync(join(this.o.dir, 'log4j.properties'), log4jProperties());
    const r = spawnSync(this.java(), [
      `-Dlog4j.configuration=file:${join(this.o.dir, 'log4j.properties')}`, `-Dkafka.logs.dir=${this.logs}`,
      '-cp', join(kafkaLibs, '*'), 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', this.props, ...(this.o.formatArgs ?? []),
    ], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`formatting ${this.o.dir} failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
  }

  async start(timeoutMs = 120_000): Promise<void> {
    const out = openSync(join(this.logs, 'console.log'), 'a');
    this.child = spawn(this.java(), kafkaJvmArgs({
      heapMb: 256, log4jFile: join(this.o.dir, 'log4j.properties'), logsDir: this.logs, classpath: join(kafkaLibs, '*'), propertiesFile: this.props,
    }), { cwd: this.o.dir, stdio: ['ignore', out, out] });
    closeSync(out);
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`throwaway broker exited with ${this.child.exitCode}; see ${this.logs}/server.log:\n${this.tail()}`);
      if ((await probeKafka([this.brokers])).ok) return;
      if (Date.now() > end) throw new Error(`throwaway broker not answering at ${this.brokers} after ${timeoutMs} ms; see ${this.logs}/server.log:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** SIGTERM (controlled shutdown), SIGKILL if it hangs. Only ever our own child. */
  async stop(timeoutMs = 60_000): Promise<void> {
    await this.signal('SIGTERM', timeoutMs);
  }

  /** SIGKILL: the broker dies mid-request, as in a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL', 10_000);
  }

  private async signal(sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(t);
  }

  tail(): string {
    const f = join(this.logs, 'server.log');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-20).join('\n') : '(no server.log)';
  }
}
