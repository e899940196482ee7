import { parse, UsageError, UserError, wantsHelp, type Command } from '../command.js';

// `connaudit services up|down|status|fetch`: the local Kafka and
// Elasticsearch that integration tests, the demo and CI run against. The
// work lives in services/; this file is argument handling and output.

const HELP = {
  main: `Usage: connaudit services <up|down|status|fetch> [options]

Runs the local Kafka 4.4 broker (127.0.0.1:9092, KRaft) and single-node
Elasticsearch 8.19 (http://127.0.0.1:9200) that the agent, pipeline, demo and
integration tests use. The first run downloads both from Maven Central with
mvn into .cache/; runtime state (data, logs, pid files) lives in .run/.

Other versions or a second set beside the first (CI starts Elasticsearch
9.3.2 on 9210 this way) come from the environment:
  CONNAUDIT_KAFKA_VERSION  CONNAUDIT_KAFKA_PORT  CONNAUDIT_KAFKA_DIR
  CONNAUDIT_ES_VERSION     CONNAUDIT_ES_PORT     CONNAUDIT_ES_DIR
(set KAFKA_BROKERS / ES_URL to the same port so clients find it).

Subcommands:
  up       start what is not running and wait until it is healthy
  down     stop the local services
  status   show whether each service runs and answers (--json for machines)
  fetch    only download the distributions (done by 'up' when needed)

Run 'connaudit services <subcommand> --help' for its options.
When KAFKA_BROKERS or ES_URL point at another cluster, that service is
treated as external: never started or stopped, only checked.`,
  up: `Usage: connaudit services up [--kafka-only | --es-only] [--timeout SECONDS]

Starts the local services that are not yet running, then waits for health:
Kafka answers a metadata request, Elasticsearch reports cluster health
yellow or green. Creates the pipeline's Kafka topics if they are missing.
Already running services are left alone, so 'up' is safe to repeat.

Options:
  --kafka-only      only Kafka
  --es-only         only Elasticsearch
  --timeout SECS    how long to wait for each service (default 180)

Elasticsearch runs as the unprivileged account 'connaudit-es' when started
by root (it refuses root); the account is created on first use.
Exit code 0 when everything requested is healthy, 1 otherwise (the failing
step, its log file with the last lines, and what to do are printed).`,
  down: `Usage: connaudit services down [--kafka-only | --es-only] [--timeout SECONDS]

Stops the local services gracefully (SIGTERM), and kills them if they have
not exited after the timeout (default 30 s each). Data in .run/ is kept.
External clusters (KAFKA_BROKERS / ES_URL elsewhere) are never touched.`,
  status: `Usage: connaudit services status [--json]

For each service: running or not, healthy or not, pid, endpoint, version,
JDK, data dir, log file, and (Kafka) its topics. --json prints the same as a
JSON array on stdout. Exit code 0 when all services are healthy, 3 when any
is not (the LSB convention for "not running").`,
  fetch: `Usage: connaudit services fetch

Downloads Kafka and the Elasticsearch integ-test-zip from Maven Central into
.cache/ with mvn, if they are not there yet. 'up' does this on its own.`,
} as const;

function seconds(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout needs a positive number of seconds, got '${value}'`);
  return n * 1000;
}

function which(v: { 'kafka-only'?: boolean; 'es-only'?: boolean }): { kafka: boolean; es: boolean } {
  if (v['kafka-only'] && v['es-only']) throw new UsageError('--kafka-only and --es-only exclude each other');
  return { kafka: !v['es-only'], es: !v['kafka-only'] };
}

const pick = { 'kafka-only': { type: 'boolean' }, 'es-only': { type: 'boolean' }, timeout: { type: 'string' } } as const;

/** A service failure becomes a UserError: the report (step, log, tail) as message, the next step as hint. */
async function asUserError<T>(fn: () => Promise<T>): Promise<T> {
  const { ServiceError } = await import('../../services/errors.js');
  const { LockBusyError } = await import('../../services/lock.js');
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ServiceError) throw new UserError(err.report(), err.hint);
    if (err instanceof LockBusyError) {
      throw new UserError(err.message, `wait for it to finish; if it hangs, stop it (kill ${err.owner}) and run the command again`);
    }
    throw err;
  }
}

async function up(argv: string[]): Promise<number> {
  const { values } = parse(argv, pick);
  const want = which(values);
  const timeoutMs = seconds(values.timeout, 180);
  const { targets, displayUrl } = await import('../../services/external.js');
  const { say } = await import('../../services/progress.js');
  const t = targets();
  const started = Date.now();
  const { withLock } = await import('../../services/lock.js');
  const { RUN_DIR } = await import('../../services/layout.js');
  await asUserError(() => withLock(`${RUN_DIR}/services.lock`, timeoutMs * 2, async () => {
    if (want.kafka) {
      if (t.kafka.local) {
        const { kafkaUp } = await import('../../services/kafka.js');
        await kafkaUp({ timeoutMs });
      } else {
        say(`kafka: KAFKA_BROKERS=${t.kafka.brokers.join(',')} is external; not starting a local broker`);
        const { kafkaStatus } = await import('../../services/kafka.js');
        const s = await kafkaStatus(t.kafka.brokers, false);
        if (!s.healthy) throw new UserError(`kafka: the external cluster at ${t.kafka.brokers.join(',')} does not answer: ${s.error}`,
          'check KAFKA_BROKERS and the KAFKA_SASL_* / KAFKA_SSL settings, or unset KAFKA_BROKERS to use the local broker');
        say(`kafka: external cluster answers (cluster id ${String(s.detail?.clusterId)})`);
      }
    }
    if (want.es) {
      if (t.es.local) {
        const { startElasticsearch, defaultEsInstance } = await import('../../services/elasticsearch.js');
        await startElasticsearch(defaultEsInstance(timeoutMs));
      } else {
        say(`elasticsearch: ES_URL=${displayUrl(t.es.url)} is external; not starting a local node`);
        const { esStatus } = await import('../../services/status.js');
        const s = await esStatus();
        if (!s.healthy) throw new UserError(`elasticsearch: the external cluster at ${displayUrl(t.es.url)} is not healthy: ${s.error ?? s.detail?.clusterStatus}`,
          'check ES_URL and ES_API_KEY or ES_USERNAME/ES_PASSWORD (and ES_CA_CERT for TLS), or unset ES_URL to use the local node');
        say(`elasticsearch: external cluster answers (status ${String(s.detail?.clusterStatus)}, version ${s.version ?? 'unknown'})`);
      }
    }
  }));
  say(`services up: ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return 0;
}

async function down(argv: string[]): Promise<number> {
  const { values } = parse(argv, pick);
  const want = which(values);
  const timeoutMs = seconds(values.timeout, 30);
  const { targets } = await import('../../services/external.js');
  const { say } = await import('../../services/progress.js');
  const { withLock } = await import('../../services/lock.js');
  const { RUN_DIR } = await import('../../services/layout.js');
  const t = targets();
  await asUserError(() => withLock(`${RUN_DIR}/services.lock`, timeoutMs * 4, async () => {
    if (want.kafka) {
      if (!t.kafka.local) say('kafka: external (KAFKA_BROKERS), left alone');
      else {
        const { kafkaDown } = await import('../../services/kafka.js');
        say(await kafkaDown(timeoutMs));
      }
    }
    if (want.es) {
      if (!t.es.local) say('elasticsearch: external (ES_URL), left alone');
      else {
        const { stopElasticsearch, defaultEsInstance } = await import('../../services/elasticsearch.js');
        const d = defaultEsInstance(timeoutMs);
        say(await stopElasticsearch(d.dir, d.clusterName, timeoutMs));
      }
    }
  }));
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } });
  const { allStatus, formatStatus } = await import('../../services/status.js');
  const list = await allStatus();
  process.stdout.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : `${formatStatus(list)}\n`);
  return list.every((s) => s.healthy) ? 0 : 3;
}

async function fetchAll(argv: string[]): Promise<number> {
  parse(argv, {});
  const { fetchKafka, fetchElasticsearch } = await import('../../services/fetch.js');
  const { say } = await import('../../services/progress.js');
  await asUserError(async () => {
    if (!(await fetchKafka())) say('kafka: already downloaded');
    if (!(await fetchElasticsearch())) say('elasticsearch: already downloaded');
  });
  return 0;
}

const SUB: Record<string, (argv: string[]) => Promise<number>> = { up, down, status, fetch: fetchAll };

const command: Command = {
  name: 'services',
  summary: 'Start, stop or check the local Kafka and Elasticsearch (up | down | status | fetch)',
  help: HELP.main,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub) throw new UsageError('which subcommand? up, down, status or fetch');
    const fn = SUB[sub];
    if (!fn) throw new UsageError(`unknown subcommand '${sub}' (expected up, down, status or fetch)`);
    if (wantsHelp(rest)) {
      process.stdout.write(`${HELP[sub as keyof typeof HELP]}\n`);
      return 0;
    }
    return fn(rest);
  },
};
export default command;
