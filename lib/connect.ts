import { readFileSync } from 'node:fs';
import type { ClientOptions } from '@elastic/elasticsearch';
import { describeKafka, kafkaBrokers } from './kafka.js';
import { DEFAULT_ES_URL } from './names.js';

// Where every command finds Kafka and Elasticsearch. The defaults are the local
// services that `connaudit services up` starts; the environment points the same
// commands at external clusters:
//   KAFKA_*              see lib/kafka.ts (brokers, SASL PLAIN/SCRAM, TLS)
//   ES_URL               e.g. https://es.example:9200 (credentials in the URL work too)
//   ES_API_KEY           base64 "id:key" API key, or
//   ES_USERNAME / ES_PASSWORD   basic auth
//   ES_CA_CERT           path to a PEM CA bundle for TLS

export interface Endpoints {
  kafkaBrokers: string[];
  esUrl: string;
}

export function endpoints(env: NodeJS.ProcessEnv = process.env): Endpoints {
  return {
    kafkaBrokers: kafkaBrokers(env),
    esUrl: env.ES_URL ?? DEFAULT_ES_URL,
  };
}

/** Kafka client settings live in lib/kafka.ts; re-exported for callers that need both transports. */
export { kafkaConfig } from './kafka.js';

export function esClientOptions(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const opts: ClientOptions = { node: endpoints(env).esUrl, requestTimeout: 30_000, maxRetries: 3 };
  if (env.ES_API_KEY) opts.auth = { apiKey: env.ES_API_KEY };
  else if (env.ES_USERNAME) opts.auth = { username: env.ES_USERNAME, password: env.ES_PASSWORD ?? '' };
  if (env.ES_CA_CERT) opts.tls = { ca: readFileSync(env.ES_CA_CERT) };
  return opts;
}

/** How Elasticsearch authenticates, for log lines: never the secret itself. */
export function esAuthKind(env: NodeJS.ProcessEnv = process.env): 'api_key' | 'basic' | 'basic_in_url' | 'none' {
  if (env.ES_API_KEY) return 'api_key';
  if (env.ES_USERNAME) return 'basic';
  // The client takes user:password from the URL itself; logging "none" here
  // sent operators hunting for a missing credential that was in fact in use.
  try {
    if (new URL(endpoints(env).esUrl).username) return 'basic_in_url';
  } catch { /* an unparsable URL fails at connect with its own message */ }
  return 'none';
}

/** For log lines: where we connect, never with what credentials. */
export function describeEndpoints(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const e = endpoints(env);
  return {
    ...describeKafka(env),
    elasticsearch: e.esUrl.replace(/\/\/[^@/]*@/, '//'),
    esAuth: esAuthKind(env),
    esTls: e.esUrl.startsWith('https:'),
  };
}
