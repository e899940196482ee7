import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { INSTALL_ROOT } from '../lib/paths.js';

// Where the local services live. Downloads go to the git-ignored `.cache/`
// (kept across runs, re-fetched only when missing) and runtime state to the
// git-ignored `.run/` (pid files, data, logs), both at the repository root.

/** Kafka 3.9, not 4.x: Kafka 4.0 removed the old protocol versions that kafkajs 2.2.4 still sends (KIP-896), so kafkajs cannot talk to a 4.x broker. */
export const KAFKA_VERSION = '3.9.2';
export const KAFKA_SCALA = '2.13';
/** Newest integ-test-zip on Maven Central that runs on a JDK found here (8.19 needs Java 17 or later). */
export const ES_VERSION = '8.19.21';
export const ES_MIN_JAVA = 17;
export const KAFKA_MIN_JAVA = 17;

export const KAFKA_PORT = 9092;
export const KAFKA_CONTROLLER_PORT = 9093;
export const ES_HTTP_PORT = 9200;
export const ES_TRANSPORT_PORT = 9300;

/** The unprivileged account Elasticsearch runs as when we are root (it refuses to run as root). */
export const ES_USER = 'connaudit-es';

export const REPO_ROOT = process.env.CONNAUDIT_ROOT ?? INSTALL_ROOT;
export const CACHE_DIR = join(REPO_ROOT, '.cache');
export const RUN_DIR = join(REPO_ROOT, '.run');

export const kafkaHome = join(CACHE_DIR, `kafka-${KAFKA_VERSION}`);
export const kafkaLibs = join(kafkaHome, 'libs');
/** Every directory on the way to `path` lets others pass (o+x). */
export function worldTraversable(path: string): boolean {
  for (let p = path; ; p = dirname(p)) {
    try {
      if ((statSync(p).mode & 0o001) === 0) return false;
    } catch {
      // Not created yet: only its existing parents matter.
    }
    if (dirname(p) === p) return true;
  }
}

/**
 * Elasticsearch runs as its own unprivileged account when we are root, and
 * that account must be able to reach its files. A clone under /root (mode
 * 700) is out of its reach, so then the Elasticsearch home and instance dirs
 * move to /var/lib/connaudit/<hash of the repo path>/ instead of .cache/ and
 * .run/ (the rest stays in the repo). Set when that happens: the reason.
 */
export const ES_RELOCATED: string | undefined =
  process.getuid?.() === 0 && !worldTraversable(REPO_ROOT) ? `${REPO_ROOT} is not traversable by other users` : undefined;
const ES_BASE = ES_RELOCATED
  ? join('/var/lib/connaudit', createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12))
  : undefined;

export const esHome = ES_BASE ? join(ES_BASE, `elasticsearch-${ES_VERSION}`) : join(CACHE_DIR, `elasticsearch-${ES_VERSION}`);
/** Creates the relocated base (if any) so that every level is enterable by the Elasticsearch account, whatever the umask. */
export function ensureEsBaseDirs(): void {
  if (!ES_BASE) return;
  for (const d of [dirname(ES_BASE), ES_BASE, join(ES_BASE, 'run')]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o755);
  }
}

/** Parent of Elasticsearch instance dirs (the default one and the security test's). */
export const esRunBase = ES_BASE ? join(ES_BASE, 'run') : RUN_DIR;

export const kafkaRun = {
  dir: join(RUN_DIR, 'kafka'),
  data: join(RUN_DIR, 'kafka', 'data'),
  logs: join(RUN_DIR, 'kafka', 'logs'),
  pidFile: join(RUN_DIR, 'kafka', 'kafka.pid'),
  clusterIdFile: join(RUN_DIR, 'kafka', 'cluster.id'),
  properties: join(RUN_DIR, 'kafka', 'server.properties'),
  log4j: join(RUN_DIR, 'kafka', 'log4j.properties'),
  jdkFile: join(RUN_DIR, 'kafka', 'jdk'),
  serverLog: join(RUN_DIR, 'kafka', 'logs', 'server.log'),
  consoleLog: join(RUN_DIR, 'kafka', 'logs', 'console.log'),
};

/** The default local Elasticsearch instance; other instances (the security test) get their own dir. */
export const esDefaultInstanceDir = join(esRunBase, 'elasticsearch');
