import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { INSTALL_ROOT } from '../lib/paths.js';

// Where the local services live. Downloads go to the git-ignored `.cache/`
// (kept across runs, re-fetched only when missing) and runtime state to the
// git-ignored `.run/` (pid files, data, logs), both at the repository root.

// The defaults are what CI tests against. Each can be overridden from the
// environment so that a second set of services (another version, other
// ports, another state dir) runs beside the first: CI starts an
// Elasticsearch 9.x that way for the end-to-end subset, and an upgrade is
// tried without touching the services others use.
//   CONNAUDIT_KAFKA_VERSION, CONNAUDIT_KAFKA_PORT, CONNAUDIT_KAFKA_CONTROLLER_PORT, CONNAUDIT_KAFKA_DIR
//   CONNAUDIT_ES_VERSION, CONNAUDIT_ES_PORT, CONNAUDIT_ES_TRANSPORT_PORT, CONNAUDIT_ES_DIR

/** A positive port number from the environment, or the default; a typo fails loudly rather than falling back. */
export function envPort(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}=${v} is not a TCP port (1-65535); fix or unset it`);
  return n;
}

/**
 * Newest Kafka on Maven Central that kafkajs 2.2.4 works with. Kafka 4.0
 * dropped protocol versions older than those of Kafka 2.1 (KIP-896); kafkajs
 * 2.2.4 negotiates with ApiVersions and uses versions inside what 4.x still
 * serves, so produce, consumer groups, offset commits and the admin calls we
 * use all work (checked by the integration suite on every CI run).
 */
export const KAFKA_DEFAULT_VERSION = '4.4.0';
export const KAFKA_VERSION = process.env.CONNAUDIT_KAFKA_VERSION || KAFKA_DEFAULT_VERSION;
/** 3 or 4: the two differ in logging (reload4j vs log4j2) and so in the classpath and JVM flags. */
export const KAFKA_MAJOR = Number(KAFKA_VERSION.split('.')[0]);
export const KAFKA_SCALA = '2.13';
/** Newest 8.x integ-test-zip on Maven Central; 8.19 needs Java 17 or later. */
export const ES_DEFAULT_VERSION = '8.19.21';
/** The Elasticsearch 9.x that CI runs the end-to-end subset against (scripts/test.sh). */
export const ES9_VERSION = '9.3.2';
export const ES9_HTTP_PORT = 9210;
export const ES9_TRANSPORT_PORT = 9310;
export const ES_VERSION = process.env.CONNAUDIT_ES_VERSION || ES_DEFAULT_VERSION;
export const ES_MAJOR = Number(ES_VERSION.split('.')[0]);
export const ES_MIN_JAVA = 17;
export const KAFKA_MIN_JAVA = 17;

export const KAFKA_PORT = envPort('CONNAUDIT_KAFKA_PORT', 9092);
export const KAFKA_CONTROLLER_PORT = envPort('CONNAUDIT_KAFKA_CONTROLLER_PORT', KAFKA_PORT + 1);
export const ES_HTTP_PORT = envPort('CONNAUDIT_ES_PORT', 9200);
export const ES_TRANSPORT_PORT = envPort('CONNAUDIT_ES_TRANSPORT_PORT', ES_HTTP_PORT + 100);

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

const KAFKA_DIR = process.env.CONNAUDIT_KAFKA_DIR || join(RUN_DIR, 'kafka');
export const kafkaRun = {
  dir: KAFKA_DIR,
  data: join(KAFKA_DIR, 'data'),
  logs: join(KAFKA_DIR, 'logs'),
  pidFile: join(KAFKA_DIR, 'kafka.pid'),
  clusterIdFile: join(KAFKA_DIR, 'cluster.id'),
  properties: join(KAFKA_DIR, 'server.properties'),
  log4j: join(KAFKA_DIR, 'log4j.properties'),
  jdkFile: join(KAFKA_DIR, 'jdk'),
  serverLog: join(KAFKA_DIR, 'logs', 'server.log'),
  consoleLog: join(KAFKA_DIR, 'logs', 'console.log'),
};

/** The default local Elasticsearch instance; other instances (the security test) get their own dir. */
export const esDefaultInstanceDir = process.env.CONNAUDIT_ES_DIR
  || join(esRunBase, ES_VERSION === ES_DEFAULT_VERSION ? 'elasticsearch' : `elasticsearch-${ES_VERSION}`);
