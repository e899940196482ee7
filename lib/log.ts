import pino, { type Logger } from 'pino';

// Logs are pino JSON on stderr, so stdout stays free for data (agent --output
// jsonl, backtest alerts). Credentials never reach a log line: the redact paths
// cover every place a config object could carry them.
const REDACT = [
  'password', '*.password', '*.*.password',
  'apiKey', '*.apiKey', '*.*.apiKey',
  'auth', '*.auth', '*.*.auth',
  'authorization', '*.authorization', 'headers.authorization',
];

export function createLogger(name: string, level = process.env.CONNAUDIT_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));
}

export type { Logger };
