import { parse, UserError, type Command } from '../command.js';

const help = `Usage: connaudit pipeline [--config FILE] [--group ID] [--offset-reset earliest|latest]
                          [--max-batch N] [--exit-when-idle S]
                          [--instance NAME] [--metrics-port N|off] [--wait-timeout S]

The stream processor. Joins the Kafka consumer group, decodes each record of
connaudit.connections by its schema fingerprint, maps it to an ECS document,
enriches it (zones, node group, environment, service), runs the SLO and rule
stages, and bulk-indexes documents into connaudit-connections and alerts into
connaudit-alerts. Agent health reports go to connaudit-agent-health.

Without --config it runs the shipped rules (rules/) and service catalogue
(config/services.yaml), and says so in its log.

Delivery: at least once. Offsets are committed only after Elasticsearch and
connaudit.dlq acknowledged every record of the batch. Connection documents are
created, never overwritten (op_type create, deterministic event.id): a
redelivered identical record is a no-op; a record with a stored id and other
content goes to connaudit.dlq (dlq-reason id_conflict) and raises an alert.
Every record Elasticsearch cannot take (bad value, id over 512 bytes, too
large), that cannot be decoded, or whose event time is more than
max_future_skew_s ahead of this clock, goes to connaudit.dlq with headers
dlq-reason and dlq-error, and consumption goes on.

At start it waits for Elasticsearch and Kafka (with backoff, naming the one
it waits for) instead of exiting.

Options:
  --config FILE        pipeline YAML (schema: schemas/pipeline-config.schema.json):
                       internal_cidrs, zones, node_groups, environments,
                       rules, services, snapshot_interval_s, offset_reset,
                       max_future_skew_s, watermark, metrics
  --group ID           consumer group (default connaudit-pipeline; the
                       cross-host consumer uses ID-rekey)
  --offset-reset P     where a partition without a committed offset starts:
                       earliest (default: the oldest retained record) or
                       latest (only new records; older ones are never indexed)
  --from-beginning     same as --offset-reset earliest (kept for old scripts)
  --max-batch N        messages per bulk request (default 500)
  --exit-when-idle S   stop after S seconds without messages (tests, demos)
  --instance NAME      name of this instance (client id; key of its SLO state
                       in the changelog topic <group>-state-changelog)
  --state-dir DIR      ignored: stage state lives in Kafka (kept for old scripts)
  --metrics-port N     serve /metrics and /healthz on 127.0.0.1:N (default:
                       the config's metrics.port, else 9466; off: none)
  --wait-timeout S     give up when Kafka or Elasticsearch stays unreachable
                       this long at start (default: wait until stopped)

Signals: SIGINT/SIGTERM finish the batch, commit and exit; SIGHUP reloads the
rules (a rule file change does too). A bad rule file is rejected with
file:line and the running rules stay in force.

Environment: KAFKA_BROKERS, KAFKA_SASL_*, KAFKA_SSL/KAFKA_CA_CERT (see
lib/kafka.ts), ES_URL, ES_API_KEY or ES_USERNAME/ES_PASSWORD, ES_CA_CERT,
CONNAUDIT_LOG_LEVEL (debug shows per-batch counts).`;

// 9466: the agent's default is 9465, and both often run on one host (the demo does).
export const DEFAULT_METRICS_PORT = 9466;

function positiveInt(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UserError(`${name} must be a number >= ${min}, got ${JSON.stringify(v)}`, `pass e.g. ${name} ${Math.max(min, 1) * 5}`);
  return n;
}

const command: Command = {
  name: 'pipeline',
  summary: 'Consume connection records from Kafka, enrich, run rules and SLO stages, index into Elasticsearch',
  help,
  async run(argv) {
    const { values } = parse(argv, {
      config: { type: 'string' },
      group: { type: 'string' },
      'offset-reset': { type: 'string' },
      'from-beginning': { type: 'boolean' },
      'max-batch': { type: 'string' },
      'exit-when-idle': { type: 'string' },
      'state-dir': { type: 'string' },
      instance: { type: 'string' },
      'metrics-port': { type: 'string' },
      'wait-timeout': { type: 'string' },
    });
    const maxBatch = positiveInt('--max-batch', values['max-batch'], 1);
    const exitWhenIdleS = positiveInt('--exit-when-idle', values['exit-when-idle'], 0);
    const waitTimeoutS = positiveInt('--wait-timeout', values['wait-timeout'], 0);
    const reset = values['offset-reset'] ?? (values['from-beginning'] ? 'earliest' : undefined);
    if (reset !== undefined && reset !== 'earliest' && reset !== 'latest') throw new UserError(`--offset-reset must be earliest or latest, got ${JSON.stringify(reset)}`, 'earliest reads every retained record a new group has not committed; latest skips them');
    const metricsFlag = values['metrics-port'];
    const metricsPort = metricsFlag === 'off' ? undefined : positiveInt('--metrics-port', metricsFlag, 0);
    const { createLogger } = await import('../../lib/log.js');
    const { loadConfig } = await import('../../pipeline/enrich/config.js');
    const { shippedConfig } = await import('../../pipeline/defaults.js');
    const { StageLoadError } = await import('../../pipeline/compose.js');
    const { runPipeline } = await import('../../pipeline/run.js');
    const { ServiceUnreachable } = await import('../../pipeline/startup.js');
    const log = createLogger('pipeline');
    const config = values.config ? loadConfig(values.config) : shippedConfig();
    if (!values.config) log.info({ rules: config.rules, services: config.services }, 'no --config: running the shipped rules and service catalogue');
    const metrics = metricsFlag === 'off' ? false : { port: metricsPort ?? config.metrics?.port ?? DEFAULT_METRICS_PORT, host: config.metrics?.host };
    const ac = new AbortController();
    const onSignal = (sig: string) => () => {
      log.info({ signal: sig }, 'signal received');
      ac.abort();
    };
    const onInt = onSignal('SIGINT');
    const onTerm = onSignal('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    try {
      return await runPipeline({
        config, group: values.group, offsetReset: reset as 'earliest' | 'latest' | undefined, maxBatch, exitWhenIdleS,
        instance: values.instance, log, signal: ac.signal, metrics, waitTimeoutMs: waitTimeoutS !== undefined ? waitTimeoutS * 1000 : undefined,
      });
    } catch (err) {
      if (err instanceof StageLoadError) throw new UserError(`cannot start the stages:\n${err.message}`, 'fix the rule or catalogue files named above; `connaudit rules validate` lists every problem');
      if (err instanceof ServiceUnreachable) throw new UserError(err.message, err.service === 'Kafka' ? 'start the local services with `connaudit services up`, or point KAFKA_BROKERS at your brokers' : 'start the local services with `connaudit services up`, or point ES_URL at your cluster');
      throw err;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  },
};
export default command;
