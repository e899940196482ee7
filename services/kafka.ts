import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceError } from './errors.js';
import { fetchKafka } from './fetch.js';
import { listJdks, pickKafkaJdk, type Jdk } from './jdk.js';
import { isClusterId, kafkaJvmArgs, log4jProperties, logConfigFlag, newClusterId, serverProperties } from './kafka-config.js';
import { kafkaAdmin, probeKafka, type KafkaProbe } from './kafka-client.js';
import { KAFKA_CONTROLLER_PORT, KAFKA_MIN_JAVA, KAFKA_PORT, KAFKA_VERSION, kafkaLibs, kafkaRun } from './layout.js';
import { livePid, portOpen, stopPid, waitUntil } from './proc.js';
import { say, step } from './progress.js';
import { readState, writeState } from './state.js';
import { ensureTopics, TOPIC_LAYOUT } from '../lib/topics.js';

// The local single-node KRaft broker on 127.0.0.1:9092 (controller on 9093;
// both can be moved, see layout.ts).

const HOST = '127.0.0.1';
const ENDPOINT = `${HOST}:${KAFKA_PORT}`;
/** The broker's main class: how we recognise our process in /proc. */
const MARKER = 'kafka.Kafka';
const stateFile = join(kafkaRun.dir, 'started.json');

/** The log that explains a failure: the broker's own log once it has one, else the JVM's console output. */
function failureLog(): string {
  return existsSync(kafkaRun.serverLog) && statSync(kafkaRun.serverLog).size > 0 ? kafkaRun.serverLog : kafkaRun.consoleLog;
}

function kafkaJdk(): Jdk {
  const jdk = pickKafkaJdk(listJdks(), KAFKA_MIN_JAVA);
  if (!jdk) {
    throw new ServiceError('kafka', 'pick JDK', `no JDK ${KAFKA_MIN_JAVA} or later under /usr/lib/jvm`, undefined,
      'install one (apt-get install openjdk-17-jdk-headless) and run `connaudit services up` again');
  }
  return jdk;
}

/** meta.properties is written by `kafka-storage format`; its cluster.id must match ours. */
function formattedClusterId(): string | undefined {
  const meta = join(kafkaRun.data, 'meta.properties');
  if (!existsSync(meta)) return undefined;
  return /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim();
}

/** Formats the storage dir once; later starts reuse the persisted cluster id. */
function formatOnce(jdk: Jdk): void {
  const existing = formattedClusterId();
  if (existing) {
    // Data formatted by an earlier run whose cluster.id file was lost: adopt it rather than wipe the data.
    if (!existsSync(kafkaRun.clusterIdFile)) writeFileSync(kafkaRun.clusterIdFile, `${existing}\n`);
    return;
  }
  let clusterId = existsSync(kafkaRun.clusterIdFile) ? readFileSync(kafkaRun.clusterIdFile, 'utf8').trim() : '';
  if (!isClusterId(clusterId)) {
    clusterId = newClusterId();
    writeFileSync(kafkaRun.clusterIdFile, `${clusterId}\n`);
  }
  const s = step(`formatting Kafka storage (cluster id ${clusterId})`);
  const r = spawnSync(join(jdk.home, 'bin', 'java'), [
    logConfigFlag(kafkaRun.log4j), `-Dkafka.logs.dir=${kafkaRun.logs}`,
    '-cp', join(kafkaLibs, '*'), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', kafkaRun.properties, '--ignore-formatted',
  ], { encoding: 'utf8' });
  writeFileSync(join(kafkaRun.logs, 'format.log'), `${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) {
    s.fail();
    throw new ServiceError('kafka', 'format storage', `kafka.tools.StorageTool exited with code ${r.status}`, join(kafkaRun.logs, 'format.log'),
      `if ${kafkaRun.data} holds data from another cluster, remove ${kafkaRun.dir} (this deletes local Kafka data) and run \`connaudit services up\` again`);
  }
  s.done();
}

export interface UpOptions {
  timeoutMs: number;
  heapMb?: number;
}

async function createTopics(brokers: string[]): Promise<void> {
  const admin = kafkaAdmin(brokers, { quiet: false });
  try {
    await admin.connect();
    const { created, widened } = await ensureTopics(admin, TOPIC_LAYOUT, 1);
    if (created.length) say(`kafka: created topics ${created.join(', ')}`);
    for (const w of widened) say(`kafka: ${w.topic} had ${w.from} partition(s) (auto-created?), widened to ${w.to}`);
    if (!created.length && !widened.length) say('kafka: topics already exist');
  } catch (err) {
    throw new ServiceError('kafka', 'create topics', (err as Error).message, failureLog(),
      'check the broker log above; `connaudit services status` shows whether the broker is still up');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function kafkaUp(opts: UpOptions): Promise<void> {
  const pid = livePid(kafkaRun.pidFile, MARKER);
  if (pid !== undefined) {
    const probe = await probeKafka([ENDPOINT]);
    if (probe.ok) {
      say(`kafka: already running (pid ${pid}) at ${ENDPOINT}`);
      await createTopics([ENDPOINT]);
      return;
    }
    // Started but not answering yet (another `up` still waiting, or a slow start): wait for it below.
    await waitHealthy(pid, opts.timeoutMs);
    await createTopics([ENDPOINT]);
    return;
  }
  if (await portOpen(HOST, KAFKA_PORT)) {
    const probe = await probeKafka([ENDPOINT]);
    if (!probe.ok) {
      throw new ServiceError('kafka', 'check port', `${ENDPOINT} is in use by a program that does not answer as a Kafka broker (${probe.error})`, undefined,
        `find it with \`ss -ltnp 'sport = :${KAFKA_PORT}'\` and stop it, or set KAFKA_BROKERS to use another broker`);
    }
    say(`kafka: a broker not started from this checkout is already answering at ${ENDPOINT}; using it`);
    await createTopics([ENDPOINT]);
    return;
  }

  await fetchKafka();
  const jdk = kafkaJdk();
  for (const d of [kafkaRun.dir, kafkaRun.data, kafkaRun.logs]) mkdirSync(d, { recursive: true });
  writeFileSync(kafkaRun.properties, serverProperties({ host: HOST, port: KAFKA_PORT, controllerPort: KAFKA_CONTROLLER_PORT, dataDir: kafkaRun.data }));
  writeFileSync(kafkaRun.log4j, log4jProperties());
  formatOnce(jdk);

  const out = openSync(kafkaRun.consoleLog, 'a');
  const child = spawn(join(jdk.home, 'bin', 'java'), kafkaJvmArgs({
    heapMb: opts.heapMb ?? 512, log4jFile: kafkaRun.log4j, logsDir: kafkaRun.logs, classpath: join(kafkaLibs, '*'), propertiesFile: kafkaRun.properties,
  }), { cwd: kafkaRun.dir, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) {
    throw new ServiceError('kafka', 'start', `could not start ${jdk.home}/bin/java`, kafkaRun.consoleLog, 'check that the JDK is intact (`java -version`)');
  }
  writeFileSync(kafkaRun.pidFile, `${child.pid}\n`);
  writeState(stateFile, {
    service: 'kafka', version: KAFKA_VERSION, jdk: { home: jdk.home, version: jdk.version, major: jdk.major },
    startedAt: new Date().toISOString(), endpoint: ENDPOINT, dataDir: kafkaRun.data, logFile: kafkaRun.serverLog,
  });
  await waitHealthy(child.pid, opts.timeoutMs);
  await createTopics([ENDPOINT]);
}

async function waitHealthy(pid: number, timeoutMs: number): Promise<void> {
  const s = step(`kafka: waiting for the broker at ${ENDPOINT} (pid ${pid})`);
  let last: KafkaProbe | undefined;
  const why = await waitUntil(async () => (last = await probeKafka([ENDPOINT])).ok, {
    timeoutMs,
    intervalMs: 1000,
    abort: () => (livePid(kafkaRun.pidFile, MARKER) === undefined ? 'the broker process exited' : undefined),
  });
  if (!why) { s.done(); return; }
  s.fail(why);
  throw new ServiceError('kafka', 'wait for health', `${why}${last?.error ? ` (last probe: ${last.error})` : ''}`, failureLog(),
    why.includes('exited')
      ? 'read the log lines above; a port conflict on 9092/9093 or a corrupt .run/kafka/data are the usual causes (remove .run/kafka to start afresh)'
      : `the broker is still starting or stuck; run \`connaudit services up --timeout ${Math.round((timeoutMs * 2) / 1000)}\`, or \`connaudit services down\` and try again`);
}

export async function kafkaDown(timeoutMs: number): Promise<string> {
  const pid = livePid(kafkaRun.pidFile, MARKER);
  if (pid === undefined) return 'kafka: not running';
  const s = step(`kafka: stopping pid ${pid}`);
  const how = await stopPid(pid, MARKER, timeoutMs);
  rmSync(kafkaRun.pidFile, { force: true });
  s.done(how === 'killed' ? `did not stop within ${Math.round(timeoutMs / 1000)}s, killed` : how);
  return `kafka: ${how}`;
}

export interface ServiceStatus {
  service: 'kafka' | 'elasticsearch';
  /** true: the local service that `up` manages; false: an external cluster from the environment. */
  managed: boolean;
  running: boolean;
  healthy: boolean;
  endpoint: string;
  pid?: number;
  version?: string;
  jdk?: string;
  jdkNote?: string;
  dataDir?: string;
  logFile?: string;
  detail?: Record<string, unknown>;
  error?: string;
}

export async function kafkaStatus(brokers: string[], managed: boolean): Promise<ServiceStatus> {
  const probe = await probeKafka(brokers);
  const base: ServiceStatus = {
    service: 'kafka', managed, running: probe.ok, healthy: probe.ok, endpoint: brokers.join(','),
    detail: probe.ok ? { clusterId: probe.clusterId, brokers: probe.brokers, topics: probe.topics } : undefined,
    error: probe.ok ? undefined : probe.error,
  };
  if (!managed) return base;
  const pid = livePid(kafkaRun.pidFile, MARKER);
  const st = pid !== undefined ? readState(stateFile) : undefined;
  return {
    ...base,
    running: pid !== undefined || probe.ok,
    pid,
    version: st?.version ?? (probe.ok ? 'unknown (not started from this checkout)' : undefined),
    jdk: st ? `${st.jdk.version} (${st.jdk.home})` : undefined,
    // Our data dir and log only describe a broker this checkout started.
    dataDir: pid !== undefined || !probe.ok ? kafkaRun.data : undefined,
    logFile: pid !== undefined || !probe.ok ? kafkaRun.serverLog : undefined,
  };
}
