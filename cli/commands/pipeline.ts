import { parse, UserError, type Command } from '../command.js';

const help = `Usage: connaudit pipeline [--config FILE] [--group ID] [--from-beginning]
                          [--max-batch N] [--exit-when-idle S] [--state-dir DIR]
                          [--instance NAME]

The stream processor. Joins the Kafka consumer group, decodes each record of
connaudit.connections by its schema fingerprint, maps it to an ECS document,
enriches it (zones, node group, environment, service), runs the SLO and rule
stages, and bulk-indexes documents into connaudit-connections and alerts into
connaudit-alerts. Agent health reports go to connaudit-agent-health.

Offsets are committed only after Elasticsearch acknowledged the batch; a
message that cannot be decoded, or that Elasticsearch refuses permanently, goes
to connaudit.dlq with headers dlq-reason and dlq-error, and consumption goes on.
Document ids are deterministic, so redelivery and replays never duplicate.

Options:
  --config FILE        pipeline YAML (schema: schemas/pipeline-config.schema.json):
                       internal_cidrs, zones, node_groups, environments,
                       rules (dir), services (catalogue), state_dir
  --group ID           consumer group (default connaudit-pipeline; the
                       cross-host consumer uses ID-rekey)
  --from-beginning     a NEW group starts at the oldest message (default: newest)
  --max-batch N        messages per bulk request (default 500)
  --exit-when-idle S   stop after S seconds without messages (tests, demos)
  --state-dir DIR      where stage state is kept (default .run/state/<group>)
  --instance NAME      name of this instance when several share a state dir

Signals: SIGINT/SIGTERM finish the batch, commit and exit; SIGHUP reloads the
rules (a rule file change does too). A bad rule file is rejected with
file:line and the running rules stay in force.

Environment: KAFKA_BROKERS, ES_URL, ES_API_KEY or ES_USERNAME/ES_PASSWORD,
ES_CA_CERT, CONNAUDIT_LOG_LEVEL (debug shows per-batch counts).`;

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
      'from-beginning': { type: 'boolean' },
      'max-batch': { type: 'string' },
      'exit-when-idle': { type: 'string' },
      'state-dir': { type: 'string' },
      instance: { type: 'string' },
    });
    const maxBatch = positiveInt('--max-batch', values['max-batch'], 1);
    const exitWhenIdleS = positiveInt('--exit-when-idle', values['exit-when-idle'], 0);
    const { createLogger } = await import('../../lib/log.js');
    const { ConfigError, loadConfig } = await import('../../pipeline/enrich/config.js');
    const { StageLoadError } = await import('../../pipeline/compose.js');
    const { runPipeline } = await import('../../pipeline/run.js');
    const log = createLogger('pipeline');
    let config;
    try {
      config = values.config ? loadConfig(values.config) : {};
    } catch (err) {
      if (err instanceof ConfigError) throw new UserError(`invalid pipeline config:\n${err.message}`, 'fix the lines named above (schema: schemas/pipeline-config.schema.json)');
      throw err;
    }
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
      return await runPipeline({ config, group: values.group, fromBeginning: values['from-beginning'] ?? false, maxBatch, exitWhenIdleS, stateDir: values['state-dir'], instance: values.instance, log, signal: ac.signal });
    } catch (err) {
      if (err instanceof StageLoadError) throw new UserError(`cannot start the stages:\n${err.message}`, 'fix the rule or catalogue files named above; `connaudit rules validate` lists every problem');
      const e = err as Error & { meta?: unknown; name: string };
      if (e.name === 'ConnectionError' || /ECONNREFUSED|KafkaJSConnectionError|KafkaJSNonRetriableError|Connection error/i.test(`${e.name} ${e.message}`)) {
        throw new UserError(`cannot reach Kafka or Elasticsearch: ${e.message}`, 'start the local services with `connaudit services up`, or point KAFKA_BROKERS / ES_URL at your clusters');
      }
      throw err;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  },
};
export default command;
