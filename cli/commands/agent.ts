import type { Command } from '../command.js';
import { parse, UsageError, UserError, wantsHelp } from '../command.js';

const HELP = `Usage: connaudit agent [--config FILE] [--output kafka|jsonl] [--duration S] [--count N]
       connaudit agent --replay FILE.jsonl
       connaudit agent --check [--config FILE]

Runs the eBPF connection sensor (needs root, or CAP_BPF + CAP_PERFMON, and a
kernel with BTF) and turns every finished TCP connection into a record.

Options:
  --config FILE    YAML agent config (schemas/agent-config.schema.json): host,
                   netns_hosts (netns inode or /var/run/netns/NAME -> host.name),
                   environment, node_group, labels, filters, rate_limit,
                   interim_interval_s, spool, kafka.topic.
  --output kafka   (default) Avro single-object records to ${'$'}KAFKA_BROKERS,
                   spooled to disk while Kafka is unreachable.
  --output jsonl   One ECS JSON document per line on stdout (logs on stderr).
  --duration S     Stop after S seconds.
  --count N        Stop after N records.
  --replay FILE    Send the documents of FILE (as printed by --output jsonl)
                   through the Avro + Kafka path and exit when all are acked.
  --check          Print a verdict for each requirement (kernel, BTF,
                   tracepoints, capabilities, memlock, program load, ring
                   buffer) and exit 1 if a required one fails.

SIGINT/SIGTERM detach the programs, flush what was read, and exit 0.`;

const command: Command = {
  name: 'agent',
  summary: 'Run the eBPF TCP connection sensor (or --check the host, or --replay a JSONL file)',
  help: HELP,
  async run(argv) {
    if (wantsHelp(argv)) { process.stdout.write(`${HELP}\n`); return 0; }
    const { values } = parse(argv, {
      config: { type: 'string' },
      output: { type: 'string', default: 'kafka' },
      replay: { type: 'string' },
      check: { type: 'boolean', default: false },
      duration: { type: 'string' },
      count: { type: 'string' },
    });
    const num = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} wants a positive number, got ${JSON.stringify(v)}`);
      return n;
    };
    const durationS = num('duration', values.duration);
    const count = num('count', values.count);
    if (values.output !== 'kafka' && values.output !== 'jsonl') throw new UsageError(`--output is kafka or jsonl, got ${JSON.stringify(values.output)}`);

    const { createLogger } = await import('../../lib/log.js');
    const log = createLogger('agent');
    const { ConfigError, loadConfig } = await import('../../agent/config.js');

    if (values.replay) {
      const { runReplay } = await import('../../agent/replay.js');
      const res = await runReplay(values.replay, { log });
      for (const e of res.errors) process.stderr.write(`${values.replay}:${e.line}: ${e.field}: ${e.message}\n`);
      process.stderr.write(`replayed ${res.sent} of ${res.read} documents from ${values.replay}\n`);
      return res.errors.length > 0 ? 1 : 0;
    }

    let cfg;
    try {
      cfg = loadConfig(values.config);
    } catch (e) {
      if (e instanceof ConfigError) {
        throw new UserError(e.message, e.line > 0 ? 'fix the key named above; the schema is schemas/agent-config.schema.json' : 'check the path given to --config');
      }
      throw e;
    }

    if (values.check) {
      const { runChecks } = await import('../../agent/check.js');
      const verdicts = runChecks(cfg.bpfObject);
      for (const v of verdicts) {
        const tag = v.ok ? 'ok  ' : v.required ? 'FAIL' : 'warn';
        process.stdout.write(`${tag}  ${v.name.padEnd(32)} ${v.detail}\n`);
      }
      const failed = verdicts.filter((v) => !v.ok && v.required);
      process.stdout.write(failed.length === 0 ? 'verdict: this host can run the connaudit sensor\n' : `verdict: ${failed.length} required check(s) failed\n`);
      return failed.length === 0 ? 0 : 1;
    }

    const { runAgent } = await import('../../agent/run.js');
    const { agentVersion } = await import('../../agent/health.js');
    const { SensorStartError } = await import('../../agent/sensor.js');
    const version = agentVersion();
    let sink;
    if (values.output === 'jsonl') {
      const { JsonlSink } = await import('../../agent/jsonl-sink.js');
      sink = new JsonlSink(process.stdout, log);
    } else {
      const { KafkaSink } = await import('../../agent/kafka-sink.js');
      const { Spool } = await import('../../agent/spool.js');
      const spool = Spool.open({ dir: cfg.spool.dir, maxBytes: cfg.spool.maxBytes, log });
      sink = new KafkaSink({ spool, topic: cfg.topic, log, health: { intervalS: cfg.healthIntervalS, host: cfg.host, agentVersion: version } });
    }
    try {
      await runAgent({ cfg, sink, log, agentVersion: version, durationS, count, onReady: () => process.stderr.write('connaudit agent: sensor attached\n') });
    } catch (e) {
      if (e instanceof SensorStartError) {
        throw new UserError(`the sensor could not start: ${e.message}`, 'run `connaudit agent --check` to see which requirement is missing (root, BTF, tracepoints); rebuild the object with make -C bpf');
      }
      throw e;
    }
    // Records, health and logs are flushed and every connection is closed by
    // now. Leaving here skips the runtime's heap teardown, which after a
    // storm's backlog takes hundreds of ms and would break "SIGINT exits
    // within 1 s" (stdout and stderr are synchronous for files and pipes).
    process.exit(0);
  },
};
export default command;
