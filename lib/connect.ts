import { readFileSync } from 'node:fs';
import type { ClientOptions } from '@elastic/elasticsearch';
import type { KafkaConfig } from 'kafkajs';
import { DEFAULT_ES_URL, DEFAULT_KAFKA_BROKERS } from './names.js';

// Where every command finds Kafka and Elasticsearch. The defaults are the local
// services that `connaudit services up` starts; the environment points the same
// commands at external clusters:
//   KAFKA_BROKERS        comma-separated host:port list
//   KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (SASL/PLAIN, with KAFKA_SSL=true for TLS)
//   ES_URL               e.g. https://es.example:9200
//   ES_API_KEY           base64 "id:key" API key, or
//   ES_USERNAME / ES_PASSWORD   basic auth
//   ES_CA_CERT           path to a PEM CA bundle for TLS

export interface Endpoints {
  kafkaBrokers: string[];
  esUrl: string;
}

export function endpoints(env: NodeJS.ProcessEnv = process.env): Endpoints {
  return {
    kafkaBrokers: (env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(',').map((s) => s.trim()).filter(Boolean),
    esUrl: env.ES_URL ?? DEFAULT_ES_URL,
  };
}

export function kafkaConfig(clientId: string, env: NodeJS.ProcessEnv = process.env): KafkaConfig {
  const cfg: KafkaConfig = {
    clientId,
    brokers: endpoints(env).kafkaBrokers,
    connectionTimeout: 5_000,
    retry: { retries: 5, initialRetryTime: 300 },
  };
  if (env.KAFKA_SSL === 'true') cfg.ssl = true;
  if (env.KAFKA_SASL_USERNAME) {
    cfg.sasl = { mechanism: 'plain', username: env.KAFKA_SASL_USERNAME, password: env.KAFKA_SASL_PASSWORD ?? '' };
  }
  return cfg;
}

export function esClientOptions(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const opts: ClientOptions = { node: endpoints(env).esUrl, requestTimeout: 30_000, maxRetries: 3 };
  if (env.ES_API_KEY) opts.auth = { apiKey: env.ES_API_KEY };
  else if (env.ES_USERNAME) opts.auth = { username: env.ES_USERNAME, password: env.ES_PASSWORD ?? '' };
  if (env.ES_CA_CERT) opts.tls = { ca: readFileSync(env.ES_CA_CERT) };
  return opts;
}

/** For log lines: where we connect, never with what credentials. */
export function describeEndpoints(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const e = endpoints(env);
  return {
    kafka: e.kafkaBrokers,
    elasticsearch: e.esUrl.replace(/\/\/[^@/]*@/, '//'),
    esAuth: env.ES_API_KEY ? 'api_key' : env.ES_USERNAME ? 'basic' : 'none',
  };
}
