import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli } from '../../test/lab/child.js';
import { parse, UsageError, UserError, type Command } from '../command.js';
import { spawn } from 'node:child_process';

// Speed and memory goals live here, never in timed unit tests: a benchmark
// reports figures for a person to compare, on a machine they know.

const HELP = `Usage: connaudit bench [codec|backtest|pipeline|e2e|sensor|kafka|all] [options]

Benchmarks, each printing figures on stdout (JSON with --json):
  codec      Avro single-object encode (agent) and decode + ECS mapping
             (pipeline), records/s on one core, bytes per record
  backtest   rules backtest throughput (events/s) with every shipped rule on a
             generated fleet file (tools/bench/fleet-gen.ts)
  pipeline   decode + enrich + SLO + rules in one process on one core, no
             Kafka or Elasticsearch: events/s (wall and per CPU-second),
             median and min-max over 3 runs, alerts, share per stage, peak RSS
  e2e        end to end on the real Kafka and Elasticsearch of KAFKA_BROKERS
             and ES_URL: records paced into a topic of the run's own, a
             \`connaudit pipeline\` child (shipped rules and services) indexing
             them under a name prefix of its own; prints close -> searchable
             latency p50/p99/max, the rate reached, records in vs indexed,
             the pipeline's CPU and the load average. Without --rate: a step
             search for the highest rate sustained with 0 lost and every
             record searchable within --max-lag. Deletes what it created.
  sensor     eBPF cost: average ns per BPF program run under a connection
             storm between two network namespaces (root; sets
             kernel.bpf_stats_enabled=1 for the run)
  compare    the same bounded storm watched by: nothing, the agent to Kafka,
             the agent --output jsonl, a tcplife-style bpftrace script and
             tcpdump -s 96 -w; CPU-s per 100k connections, records and bytes
             per connection, storm rate; then the highest zero-loss rate
             (root, bpftrace, tcpdump, Kafka; see BENCHMARKS.md); with --udp
             a storm of one-datagram UDP exchanges instead (no bpftrace)
  kafka      bytes per record on the wire to Kafka for each batch codec
             (none, gzip, lz4, zstd) and the agent's CPU for them, through
             the agent's own producer to the broker of KAFKA_BROKERS
  all        codec + backtest, and sensor when running as root (default)

Options:
  --records N    codec: records to encode/decode (default 200000);
                 kafka: records per codec (default 50000)
                 pipeline: records through the pipeline (default 200000)
  --rules N      pipeline: generated rarely matching rules of every rule type,
                 on top of the shipped rules (default 0)
  --events N     backtest: events in the generated file (default 1000000)
  --seconds S    sensor: storm length (default 8)
  --workers W    sensor: storm client workers (default 1; compare: 2)
  --connections N  compare: connections per run (default 50000)
  --runs N       compare: runs per observer (default 3); pipeline: runs (default 3)
  --udp          compare: UDP exchanges instead of TCP connections
  --json         print one JSON object instead of text

Options of e2e:
  --rate R       one run at R records/s (default: step search)
  --seconds S    length of each run (default 300)
  --from R       step search: first rate (default 2000); doubles while
                 sustained, then bisects (at most --steps runs, default 6)
  --max-lag S    bounded lag: every record searchable within S seconds of
                 its close, and the backlog cleared within S seconds of the
                 end of production (default 10)
  --max-batch N  the pipeline's documents per bulk request (its --max-batch)
  --refresh I    the pipeline's index_refresh_interval (e.g. 1s, 5s)
  --sample-every N  sample every Nth record's latency (default: 50 a second)
  --cpu-prof DIR write a V8 CPU profile of the pipeline child into DIR
  --keep         keep the run's topics and indices
  --clean        only delete what earlier runs kept or left behind
                 (bench-e2e-* topics, groups, indices, templates)`;

function peakRss(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

async function backtest(events: number): Promise<Record<string, unknown>> {
  const dir = join(ROOT, '.run', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `fleet-${events}.jsonl`);
  if (!existsSync(file)) {
    process.stderr.write(`bench backtest: generating ${events} events into ${file}\n`);
    const gen = spawn(process.execPath, [join(ROOT, 'dist/tools/bench/fleet-gen.js'), file, String(events)], { stdio: ['ignore', 'ignore', 'inherit'] });
    const code = await new Promise<number | null>((r) => gen.once('exit', r));
    if (code !== 0) throw new UserError(`generating the benchmark file failed (exit ${code})`, 'run npm run build, then retry');
  }
  const t0 = process.hrtime.bigint();
  const p = runCli(['rules', 'backtest', '--input', file, '--rules', join(ROOT, 'rules')]);
  p.child.stderr!.on('data', (b: Buffer) => { if (b.toString().includes('\r')) process.stderr.write(b); });
  const code = await p.exited;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new UserError(`rules backtest failed (exit ${code})`, p.stderr().slice(-1500));
  const alerts = p.stdout().split('\n').filter(Boolean).length;
  process.stderr.write('bench backtest: input parsing against a bare JSON.parse loop\n');
  const { benchBacktestInput } = await import('../../tools/bench/backtest-input.js');
  const input = await benchBacktestInput(file, Math.min(events, 200_000));
  return { events, alerts, seconds: Number(seconds.toFixed(2)), eventsPerSec: Math.round(events / seconds), inputBytes: statSync(file).size, input };
}

const command: Command = {
  name: 'bench',
  summary: 'Benchmarks: codec throughput, rules backtest events/s, eBPF cost per program run',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      records: { type: 'string' }, events: { type: 'string' }, seconds: { type: 'string' }, workers: { type: 'string' }, json: { type: 'boolean' },
      connections: { type: 'string' }, runs: { type: 'string' }, rules: { type: 'string' }, udp: { type: 'boolean' },
      rate: { type: 'string' }, from: { type: 'string' }, steps: { type: 'string' }, 'max-lag': { type: 'string' }, 'max-batch': { type: 'string' },
      refresh: { type: 'string' }, 'sample-every': { type: 'string' }, 'cpu-prof': { type: 'string' }, keep: { type: 'boolean' }, clean: { type: 'boolean' },
    }, true);
    const which = positionals[0] ?? 'all';
    if (!['codec', 'backtest', 'pipeline', 'e2e', 'sensor', 'compare', 'kafka', 'all'].includes(which)) throw new UsageError(`unknown benchmark '${which}'`);
    const num = (v: string | undefined, d: number, name: string) => {
      if (v === undefined) return d;
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} needs a positive whole number, got '${v}'`);
      return n;
    };
    const out: Record<string, unknown> = {};
    if (which === 'codec' || which === 'all') {
      process.stderr.write('bench codec: encoding and decoding…\n');
      const { benchCodec } = await import('../../tools/bench/codec.js');
      out.codec = { ...benchCodec(num(values.records, 200_000, 'records')), peakRssMiB: peakRss() };
    }
    if (which === 'kafka') {
      const { benchKafkaWire } = await import('../../tools/bench/kafka-wire.js');
      out.kafka = await benchKafkaWire(num(values.records, 50_000, 'records'), process.env, (s) => process.stderr.write(`${s}\n`));
    }
    if (which === 'pipeline') {
      const rules = values.rules === undefined ? 0 : Number(values.rules);
      if (!Number.isInteger(rules) || rules < 0) throw new UsageError(`--rules needs a whole number (0 or more), got '${values.rules}'`);
      const { benchPipeline } = await import('../../tools/bench/pipeline.js');
      out.pipeline = await benchPipeline({ rules, records: num(values.records, 200_000, 'records'), runs: num(values.runs, 3, 'runs'), stageShares: true, progress: (s) => process.stderr.write(`${s}\n`) });
    }
    if (which === 'e2e') {
      if (values.clean) {
        const { cleanE2e } = await import('../../tools/bench/e2e.js');
        await cleanE2e(process.env, (s) => process.stderr.write(`${s}\n`));
        return 0;
      }
      if (values.refresh !== undefined && !/^[0-9]+(ms|s|m)$/.test(values.refresh)) throw new UsageError(`--refresh needs an interval like 1s or 500ms, got '${values.refresh}'`);
      const { benchE2e, e2eText } = await import('../../tools/bench/e2e-cli.js');
      const r = await benchE2e({
        rate: values.rate === undefined ? undefined : num(values.rate, 0, 'rate'),
        seconds: num(values.seconds, 300, 'seconds'),
        from: num(values.from, 2000, 'from'),
        steps: num(values.steps, 6, 'steps'),
        maxLagS: num(values['max-lag'], 10, 'max-lag'),
        maxBatch: values['max-batch'] === undefined ? undefined : num(values['max-batch'], 0, 'max-batch'),
        refreshInterval: values.refresh,
        sampleEvery: values['sample-every'] === undefined ? undefined : num(values['sample-every'], 0, 'sample-every'),
        cpuProfDir: values['cpu-prof'],
        keep: values.keep,
        progress: (s) => process.stderr.write(`${s}\n`),
      });
      if (!values.json) {
        process.stdout.write(`${e2eText(r)}\n`);
        return 0;
      }
      out.e2e = r;
    }
    if (which === 'backtest' || which === 'all') out.backtest = await backtest(num(values.events, 1_000_000, 'events'));
    if (which === 'sensor' || (which === 'all' && process.getuid?.() === 0)) {
      if (process.getuid?.() !== 0) throw new UserError('the sensor benchmark needs root (it loads eBPF programs)', 'run it as root');
      const { benchSensor } = await import('../../tools/bench/sensor.js');
      out.sensor = await benchSensor(num(values.seconds, 8, 'seconds'), num(values.workers, 1, 'workers'));
    }
    if (which === 'compare') {
      if (process.getuid?.() !== 0) throw new UserError('bench compare needs root (eBPF, network namespaces, cgroups)', 'run it as root');
      const { benchCompare, markdownTable } = await import('../../tools/bench/compare.js');
      const r = await benchCompare({ connections: num(values.connections, 50_000, 'connections'), runs: num(values.runs, 3, 'runs'), workers: num(values.workers, 2, 'workers'), transport: values.udp ? 'udp' : 'tcp' });
      if (!values.json) {
        process.stdout.write(`${markdownTable(r)}\n${r.transport === 'udp' ? '' : `\nHighest connection rate with zero loss (agent -> Kafka): ${r.zeroLoss.highestZeroLoss ?? 'none of the tried rates'} connections/s\n`}`);
        return 0;
      }
      out.compare = r;
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    for (const [name, r] of Object.entries(out)) {
      process.stdout.write(`${name}:\n${Object.entries(r as Record<string, unknown>).map(([k, v]) => `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')}\n`);
    }
    return 0;
  },
};
export default command;
