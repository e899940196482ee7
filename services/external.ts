import { endpoints } from '../lib/connect.js';
import { ES_HTTP_PORT, KAFKA_PORT } from './layout.js';

// `services up` manages only the local default endpoints. When KAFKA_BROKERS
// or ES_URL point anywhere else, that cluster is the user's: we check it is
// reachable but never start, stop or reconfigure anything for it.

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function split(hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(':');
  return i < 0 ? [hostPort, ''] : [hostPort.slice(0, i), hostPort.slice(i + 1)];
}

/** The managed broker's port is 9092 unless CONNAUDIT_KAFKA_PORT moves it (layout.ts). */
export function isLocalKafka(brokers: string[], localPort = KAFKA_PORT): boolean {
  return brokers.length === 1 && (() => {
    const [host, port] = split(brokers[0]!);
    return LOCAL_HOSTS.has(host.toLowerCase()) && port === String(localPort);
  })();
}

/** The managed node's port is 9200 unless CONNAUDIT_ES_PORT moves it (layout.ts). */
export function isLocalEs(url: string, localPort = ES_HTTP_PORT): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  return u.protocol === 'http:' && LOCAL_HOSTS.has(u.hostname.toLowerCase()) && (u.port || '80') === String(localPort) && (u.pathname === '/' || u.pathname === '');
}

export interface Targets {
  kafka: { brokers: string[]; local: boolean };
  es: { url: string; local: boolean };
}

export function targets(env: NodeJS.ProcessEnv = process.env): Targets {
  const e = endpoints(env);
  return {
    kafka: { brokers: e.kafkaBrokers, local: isLocalKafka(e.kafkaBrokers) },
    es: { url: e.esUrl, local: isLocalEs(e.esUrl) },
  };
}

/** An endpoint for display: never the user:password part of a URL. */
export function displayUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}
