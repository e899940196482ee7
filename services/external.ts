import { endpoints } from '../lib/connect.js';
import { DEFAULT_ES_URL, DEFAULT_KAFKA_BROKERS } from '../lib/names.js';

// `services up` manages only the local default endpoints. When KAFKA_BROKERS
// or ES_URL point anywhere else, that cluster is the user's: we check it is
// reachable but never start, stop or reconfigure anything for it.

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function split(hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(':');
  return i < 0 ? [hostPort, ''] : [hostPort.slice(0, i), hostPort.slice(i + 1)];
}

export function isLocalKafka(brokers: string[]): boolean {
  const [, defPort] = split(DEFAULT_KAFKA_BROKERS);
  return brokers.length === 1 && (() => {
    const [host, port] = split(brokers[0]!);
    return LOCAL_HOSTS.has(host.toLowerCase()) && port === defPort;
  })();
}

export function isLocalEs(url: string): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  const def = new URL(DEFAULT_ES_URL);
  return u.protocol === def.protocol && LOCAL_HOSTS.has(u.hostname.toLowerCase()) && (u.port || '80') === def.port && (u.pathname === '/' || u.pathname === '');
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
