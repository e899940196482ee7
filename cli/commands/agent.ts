import type { Command } from '../command.js';
import { parse, UsageError, UserError, wantsHelp } from '../command.js';

const HELP = `Usage: connaudit agent [--config FILE] [--rollout FILE] [--output kafka|jsonl] [--user NAME] [--duration S] [--count N]
       connaudit agent --replay FILE.jsonl [--config FILE] [--wait S]
       connaudit agent --check [--config FILE]

Runs the eBPF connection sensor (needs root, or CAP_BPF + CAP_PERFMON, and a
kernel with BTF) and turns every finished TCP connection into a record.

Options:
  --config FILE    YAML agent config (schemas/agent-config.schema.json): host,
                   netns_hosts (netns inode or /var/run/netns/NAME -> host.name),
                   environment, node_group, labels, filters, rate_limit,
                   interim_interval_s, spool, kafka (topic, compression,
                   max_message_bytes), metrics, user.
  --rollout FILE   central rollout plan (schemas/rollout.schema.json): the
                   agent runs only if its node_group is enabled there, with
                   that group's profile (minimal | standard | full); else it
                   says why and exits 0.
  --output kafka   (default) Avro single-object records to ${'$'}KAFKA_BROKERS,
                   spooled to disk while Kafka is unreachable.
  --output jsonl   One ECS JSON document per line on stdout (logs on stderr).
  --duration S     Stop after S seconds.
  --count N        Stop after N records.
  --replay FILE    Send the documents of FILE (as printed by --output jsonl)
                   through the Avro + Kafka path, using the agent's spool
                   (spool.dir of --config): if Kafka goes away, records wait
                   on disk and are sent when it is back. Prints FILE:LINE for
                   every line not sent (refused, dead-lettered, spool full,
                   still spooled) and exits 1 if there is any.
  --wait S         With --replay: how long to wait for Kafka to take spooled
                   records before exiting (default 600); they stay in the
                   spool for the next agent start or replay.
  --user NAME      Once the programs are attached, run as NAME (e.g. nobody)
                   keeping only CAP_BPF and CAP_PERFMON. Without it the
                   agent stays uid 0 but drops every other capability.
                   Config key: user.
  --check          Print a verdict for each requirement (kernel, BTF,
                   tracepoints, capabilities, memlock, program load, ring
                   buffer) and exit 1 if a required one fails.

Serves /metrics (Prometheus) and /healthz on 127.0.0.1:9465 (config key
metrics: {host, port, enabled}).

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
      wait: { type: 'string' },
      user: { type: 'string' },
      rollout: { type: 'string' },
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
    const { loadConfig } = await import('../../agent/config.js');

    // A ConfigError is a UserError: cli/main.ts prints it with file:line:col and the hint.
    const cfg = loadConfig(values.config);

    if (values.replay) {
      const { DEFAULT_REPLAY_WAIT_MS, runReplay } = await import('../../agent/replay.js');
      const waitS = num('wait', values.wait);
      const file = values.replay;
      let res;
      try {
        res = await runReplay(file, { log, spool: cfg.spool, topic: cfg.topic, compression: cfg.compression, maxMessageBytes: cfg.maxMessageBytes, waitMs: waitS !== undefined ? waitS * 1000 : DEFAULT_REPLAY_WAIT_MS });
      } catch (e) {
        // A missing file, a spool held by a running agent, bad Kafka settings: say what, not where in the code.
        throw new UserError((e as Error).message, 'check the file given to --replay, spool.dir in --config (a running agent holds its spool) and the KAFKA_* settings');
      }
      const out = (s: string): boolean => process.stderr.write(`${s}\n`);
      for (const e of res.errors) out(`${file}:${e.line}: ${e.field}: ${e.message}`);
      for (const l of res.deadLettered) out(`${file}:${l}: too large for Kafka: sent to the dead-letter topic, truncated and flagged`);
      for (const l of res.failed) out(`${file}:${l}: not delivered: the spool was full (spool.max_bytes) while Kafka was unreachable`);
      if (res.waiting.length > 0) out(`${file}: lines ${lineRanges(res.waiting)}: still in the spool ${cfg.spool.dir}; sent first by the next agent start or replay`);
      out(`replayed ${file}: ${res.read} lines read, ${res.sent} sent, ${res.errors.length} refused, ${res.deadLettered.length} dead-lettered, ${res.failed.length} failed, ${res.waiting.length} still spooled`);
      return res.sent === res.read ? 0 : 1;
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

    // The central rollout plan decides whether this node group runs at all, and with which profile.
    let plan: { profile: import('../../lib/rollout.js').ProfileName; reason: string } | undefined;
    if (values.rollout) {
      const { decide, loadRollout, PROFILES } = await import('../../lib/rollout.js');
      const d = decide(loadRollout(values.rollout), cfg.nodeGroup);
      if (!d.enabled) {
        process.stderr.write(`connaudit agent: not enabled here (${d.reason} in ${values.rollout}); exiting without loading the sensor\n`);
        return 0;
      }
      plan = { profile: d.profile, reason: d.reason };
      log.info({ rollout: values.rollout, decision: d.reason, profile: d.profile, collects: PROFILES[d.profile].description }, 'rollout: enabled');
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
      sink = new KafkaSink({ spool, topic: cfg.topic, compression: cfg.compression, maxMessageBytes: cfg.maxMessageBytes, log, health: { intervalS: cfg.healthIntervalS, host: cfg.host, agentVersion: version, nodeGroup: cfg.nodeGroup, profile: plan?.profile ?? 'full' } });
    }
    if (plan) {
      const { ProfiledSink } = await import('../../agent/profiled-sink.js');
      sink = new ProfiledSink(sink, plan.profile);
    }
    try {
      const { lookupUser, SENSOR_CAPS } = await import('../../agent/privileges.js');
      const userName = values.user ?? cfg.user;
      let user = null;
      if (userName) {
        try { user = lookupUser(userName); } catch (e) { throw new UserError((e as Error).message, 'pass --user nobody, or set user: in the agent config'); }
      }
      // The spool keeps growing after the switch: it must belong to the user the agent becomes.
      if (user && values.output === 'kafka') {
        const { chownSync, readdirSync } = await import('node:fs');
        const { join } = await import('node:path');
        chownSync(cfg.spool.dir, user.uid, user.gid);
        for (const f of readdirSync(cfg.spool.dir)) chownSync(join(cfg.spool.dir, f), user.uid, user.gid);
      }
      await runAgent({
        cfg, sink, log, agentVersion: version, durationS, count,
        privileges: { user, keep: SENSOR_CAPS },
        metrics: cfg.metrics,
        onReady: () => process.stderr.write(`connaudit agent: sensor attached; running as ${user ? user.name : 'uid 0'} with CAP_BPF and CAP_PERFMON only\n`),
      });
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
/** 3,4,5,9 -> "3-5, 9": a long outage can leave thousands of lines waiting. */
function lineRanges(lines: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    parts.push(i === j ? `${lines[i]}` : `${lines[i]}-${lines[j]}`);
    i = j;
  }
  return parts.join(', ');
}

export default command;
