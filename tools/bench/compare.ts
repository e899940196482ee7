import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaConfig } from '../../lib/connect.js';
import { INSTALL_ROOT } from '../../lib/paths.js';

// `connaudit bench compare`: the same bounded storm of short connections
// between two namespace hosts, watched by each observer in turn, measured the
// same way:
//   CPU      the observer's cgroup (v2 cpu.stat usage_usec: its processes and
//            threads) plus the run time of the BPF programs it loaded
//            (kernel.bpf_stats_enabled), which run in the storm's context and
//            would otherwise be charged to the storm;
//   records  what the observer wrote, counted for the storm's namespaces only;
//   bytes    what it wrote: Kafka log bytes of a topic of its own, the jsonl
//            file, the bpftrace output, the pcap;
//   rate     the storm's own connections per second.
// Then the highest paced rate at which the agent (Kafka output) loses nothing.
// Needs root, bpftrace, tcpdump and a broker at $KAFKA_BROKERS.
// With transport 'udp' the storm is one-datagram exchanges on fresh sockets
// (tools/bench/storm uclient) against an echo server: two UDP flows each (the
// client's, released at close; the server's, closed by a 1 s idle timeout),
// watched by the same observers except bpftrace (the tcplife script is TCP
// only); tcpdump's count is the client's datagrams.

export type Observer = 'none' | 'agent-kafka' | 'agent-jsonl' | 'bpftrace' | 'tcpdump';
export const OBSERVERS: Observer[] = ['none', 'agent-kafka', 'agent-jsonl', 'bpftrace', 'tcpdump'];

export interface RunResult {
  observer: Observer;
  connections: number;
  failed: number;
  stormSeconds: number;
  stormRate: number;
  cpuSeconds: number;
  bpfSeconds: number;
  cpuPer100k: number;
  records: number;
  recordsPerConnection: number;
  bytes: number;
  bytesPerConnection: number;
  /** Agent only: records lost and counted (ring buffer, map full, sampling, spool); records + this == sockets. */
  agentLosses?: number;
}

export interface CompareResult {
  transport: 'tcp' | 'udp';
  connections: number;
  workers: number;
  runs: RunResult[];
  summary: Array<{ observer: Observer; cpuPer100k: Stat; recordsPerConnection: Stat; countedLossPerConnection: Stat | null; bytesPerConnection: Stat; stormRate: Stat }>;
  zeroLoss: { rates: Array<{ rate: number; achieved: number; connections: number; records: number; losses: number }>; highestZeroLoss: number | null };
}

export interface Stat { median: number; min: number; max: number }

const STORM = join(INSTALL_ROOT, 'tools/bench/storm');
const CLI = join(INSTALL_ROOT, 'bin/connaudit.js');
const CG_ROOT = '/sys/fs/cgroup/unified';
const KAFKA_DATA = process.env.CONNAUDIT_KAFKA_DATA ?? join(INSTALL_ROOT, '.run/kafka/data');
const PORT = 9000;
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string): void => { process.stderr.write(`bench compare: ${msg}\n`); };

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: round(mid), min: round(s[0] ?? 0), max: round(s.at(-1) ?? 0) };
}
const round = (n: number): number => Math.round(n * 100) / 100;

/** The tcplife-style script: one line per TCP socket at close, for the two lab namespaces only. */
export function bpftraceScript(ns: [number, number]): string {
  return `tracepoint:sock:inet_sock_set_state
/args->protocol == 6/
{
  $sk = args->skaddr;
  $ns = ((struct sock *)$sk)->__sk_common.skc_net.net->ns.inum;
  if ($ns == ${ns[0]} || $ns == ${ns[1]}) {
    if (args->newstate < 4 && @birth[$sk] == 0) { @birth[$sk] = nsecs; @pid[$sk] = pid; @comm[$sk] = comm; }
    if (args->newstate == 7 && @birth[$sk] != 0) {
      printf("%d %s %s %d %s %d %d\\n", @pid[$sk], @comm[$sk], ntop(args->saddr), args->sport, ntop(args->daddr), args->dport, (nsecs - @birth[$sk]) / 1000);
      delete(@birth[$sk]); delete(@pid[$sk]); delete(@comm[$sk]);
    }
  }
}
`;
}

class Lab {
  readonly c: string;
  readonly s: string;
  private server: ChildProcess | null = null;
  constructor(tag: string, readonly udp = false) { this.c = `${tag}-c`; this.s = `${tag}-s`; }

  up(): Promise<void> {
    for (const ns of [this.c, this.s]) sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', this.c, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.s]);
    for (const [ns, ip] of [[this.c, '10.202.0.1'], [this.s, '10.202.0.2']] as const) {
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['netns', 'exec', this.c, 'sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']);
    sh('ip', ['netns', 'exec', this.c, 'sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1']);
    this.server = spawn('ip', ['netns', 'exec', this.s, STORM, this.udp ? 'userve' : 'serve', String(PORT), '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve) => this.server!.stdout!.once('data', () => resolve()));
  }

  inode(ns: string): number { return statSync(`/run/netns/${ns}`).ino; }

  storm(connections: number, workers: number, rate = 0): Promise<{ ok: number; failed: number; seconds: number }> {
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', this.c, STORM, this.udp ? 'uclient' : 'client', '10.202.0.2', String(PORT), '300', String(workers), String(connections), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
      p.once('exit', () => {
        const m = /connections (\d+) seconds ([\d.]+) failed (\d+)/.exec(out);
        if (!m) reject(new Error(`tools/bench/storm printed no result: ${out}`));
        else resolve({ ok: Number(m[1]), seconds: Number(m[2]), failed: Number(m[3]) });
      });
    });
  }

  down(): void {
    this.server?.kill('SIGKILL');
    for (const ns of [this.c, this.s]) {
      try { sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean).forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }); } catch { /* none */ }
      try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    }
  }
}

interface Running { child: ChildProcess; cgroup: string; bpfBefore: Set<number>; out: string; topic?: string; stderr: () => string }

function cpuUsec(cgroup: string): number {
  const m = /^usage_usec (\d+)$/m.exec(readFileSync(join(cgroup, 'cpu.stat'), 'utf8'));
  return m ? Number(m[1]) : 0;
}

interface ProgInfo { id: number; run_time_ns?: number }
const progs = (): ProgInfo[] => JSON.parse(sh('bpftool', ['prog', 'show', '--json'])) as ProgInfo[];

/** Starts `argv` inside a fresh cgroup (the shell moves itself there, then execs). */
function inCgroup(cgroup: string, argv: string[], stdout: 'ignore' | 'pipe'): ChildProcess {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ${quoted}`], { stdio: ['ignore', stdout, 'pipe'] });
}

async function waitFor(what: string, cond: () => boolean, ms: number, detail: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms:\n${detail().slice(-2000)}`);
    await sleep(100);
  }
}

async function startObserver(o: Observer, lab: Lab, dir: string, tag: string, kafka: Kafka): Promise<Running | null> {
  if (o === 'none') return null;
  const cgroup = join(CG_ROOT, `${tag}-${o}`);
  mkdirSync(cgroup, { recursive: true });
  const bpfBefore = new Set(progs().map((p) => p.id));
  let err = '';
  const out = join(dir, `${o}.out`);
  let child: ChildProcess;
  let topic: string | undefined;
  const ns: [number, number] = [lab.inode(lab.c), lab.inode(lab.s)];
  if (o === 'agent-kafka' || o === 'agent-jsonl') {
    const cfg = join(dir, `${o}.yaml`);
    topic = o === 'agent-kafka' ? `connaudit.bench-compare.${tag}` : undefined;
    writeFileSync(cfg, `host: bench-compare
netns_hosts:
  /run/netns/${lab.c}: bench-client
  /run/netns/${lab.s}: bench-server
interim_interval_s: 600
health_interval_s: 1
sensor:
  only_netns: [/run/netns/${lab.c}, /run/netns/${lab.s}]
${lab.udp ? '  udp_idle_timeout_s: 1\n' : ''}${topic ? `kafka:\n  topic: ${topic}\nspool:\n  dir: ${join(dir, 'spool')}\n` : ''}`);
    if (topic) {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
      await admin.disconnect();
    }
    const args = ['node', CLI, 'agent', '--config', cfg, '--output', o === 'agent-kafka' ? 'kafka' : 'jsonl'];
    child = o === 'agent-jsonl'
      ? spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ${args.join(' ')} > ${out}`], { stdio: ['ignore', 'ignore', 'pipe'] })
      : inCgroup(cgroup, args, 'ignore');
  } else if (o === 'bpftrace') {
    const script = join(dir, 'tcplife.bt');
    writeFileSync(script, bpftraceScript(ns));
    child = spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec bpftrace ${script} > ${out}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  } else {
    child = spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ip netns exec ${lab.c} tcpdump -i eth0 -s 96 -w ${out} -U ${lab.udp ? 'udp' : 'tcp'} port ${PORT}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const ready = o === 'bpftrace' ? (): boolean => existsSync(out) && readFileSync(out, 'utf8').includes('Attaching')
    : o === 'tcpdump' ? (): boolean => err.includes('listening on')
      : (): boolean => err.includes('sensor attached');
  await waitFor(`${o} to start`, () => ready() || child.exitCode !== null, 60_000, () => err);
  if (child.exitCode !== null) throw new Error(`${o} exited with ${child.exitCode}:\n${err.slice(-2000)}`);
  return { child, cgroup, bpfBefore, out, topic, stderr: () => err };
}

function bpfRunNs(before: Set<number>): number {
  return progs().filter((p) => !before.has(p.id)).reduce((a, p) => a + (p.run_time_ns ?? 0), 0);
}

async function kafkaRecords(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(topic);
    return offs.reduce((a, o) => a + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

function topicBytes(topic: string): number {
  if (!existsSync(KAFKA_DATA)) return Number.NaN;
  let total = 0;
  for (const d of readdirSync(KAFKA_DATA).filter((n) => n.startsWith(`${topic}-`))) {
    for (const f of readdirSync(join(KAFKA_DATA, d)).filter((n) => n.endsWith('.log'))) total += statSync(join(KAFKA_DATA, d, f)).size;
  }
  return total;
}

const lines = (file: string): number => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('Attaching')).length : 0);

/** Records the observer wrote so far (for the "until nothing new arrives" wait and the final count). */
async function records(o: Observer, r: Running, kafka: Kafka, udp = false): Promise<number> {
  if (o === 'agent-kafka') return kafkaRecords(kafka, r.topic!);
  if (o === 'tcpdump' && udp) {
    // The client's datagrams: one per exchange.
    const out = execFileSync('tcpdump', ['-nn', '-q', '-r', r.out, `udp and dst port ${PORT}`], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').filter(Boolean).length;
  }
  if (o === 'tcpdump') {
    // One SYN without ACK per connection attempt: what a pcap can tell about connections.
    const out = execFileSync('tcpdump', ['-nn', '-q', '-r', r.out, 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').filter(Boolean).length;
  }
  return lines(r.out);
}

async function stopObserver(o: Observer, r: Running, kafka: Kafka, udp = false): Promise<{ records: number; bytes: number; cpuUsec: number; bpfNs: number; agentLosses?: number }> {
  // Let whatever is buffered arrive: stop once the count has not moved for a
  // second (UDP: three, since the server's flows arrive in bursts, one per
  // idle-timeout walk, and the agent stops reading the ring buffer while it
  // writes a burst).
  let last = -1;
  let still = 0;
  for (let i = 0; i < 60; i++) {
    const n = o === 'tcpdump' ? -2 : await records(o, r, kafka, udp);
    still = n === last ? still + 1 : 0;
    if (still >= (udp ? 3 : 1)) break;
    last = n;
    await sleep(o === 'tcpdump' ? 1500 : 1000);
    if (o === 'tcpdump') break;
  }
  const bpfNs = bpfRunNs(r.bpfBefore);
  const exited = new Promise<void>((res) => r.child.once('exit', () => res()));
  r.child.kill('SIGINT');
  await Promise.race([exited, sleep(15_000)]);
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  const usec = cpuUsec(r.cgroup);
  let agentLosses: number | undefined;
  if (o.startsWith('agent')) {
    const health = r.stderr().split('\n').filter((l) => l.includes('"agent health"') || l.includes('"msg":"agent health')).at(-1);
    if (health) {
      const v = (JSON.parse(health) as { health: Record<string, number | number[]> }).health;
      // The jsonl output logs the sensor's counters (camelCase); the Kafka output logs the agent-health record (snake_case).
      const num = (...keys: string[]): number => keys.reduce((a, k) => a + Number(typeof v[k] === 'number' ? v[k] : 0), 0);
      const perCpu = (v.ringbufDropsPerCpu as number[] | undefined)?.reduce((a, b) => a + b, 0) ?? num('ringbuf_drops');
      agentLosses = perCpu + num('untrackedMapFull', 'untracked_map_full') + num('untrackedNomem', 'untracked_nomem') + num('untrackedOther', 'untracked_other')
        + num('sampledOut', 'sampled_out') + num('spool_dropped') + num('ringUnreadAtStop', 'ring_unread_at_stop');
    }
  }
  const n = await records(o, r, kafka, udp);
  const bytes = o === 'agent-kafka' ? topicBytes(r.topic!) : statSync(r.out).size;
  if (r.topic) {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [r.topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  for (let i = 0; i < 20; i++) {
    try { rmdirSync(r.cgroup); break; } catch { await sleep(100); }
  }
  return { records: n, bytes, cpuUsec: usec, bpfNs, agentLosses };
}

export interface CompareOptions { connections?: number; runs?: number; workers?: number; observers?: Observer[]; rates?: number[]; rateConnections?: number; transport?: 'tcp' | 'udp' }

export async function benchCompare(opts: CompareOptions = {}): Promise<CompareResult> {
  const connections = opts.connections ?? 50_000;
  const runs = opts.runs ?? 3;
  const workers = opts.workers ?? 2;
  const udp = opts.transport === 'udp';
  const observers = opts.observers ?? (udp ? OBSERVERS.filter((o) => o !== 'bpftrace') : OBSERVERS);
  execFileSync('make', ['-C', join(INSTALL_ROOT, 'bpf')], { stdio: 'ignore' });
  execFileSync('make', ['-C', join(INSTALL_ROOT, 'tools/bench')], { stdio: 'ignore' });
  if (!existsSync(CG_ROOT)) throw new Error(`${CG_ROOT} is missing: bench compare measures observers with a cgroup v2 hierarchy there`);
  let mountedTracefs = false;
  if (observers.includes('bpftrace') && !existsSync('/sys/kernel/tracing/events')) {
    // bpftrace reads tracepoint formats from tracefs.
    sh('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
    mountedTracefs = true;
  }
  const statsPath = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = readFileSync(statsPath, 'utf8').trim();
  writeFileSync(statsPath, '1');
  const kafka = new Kafka({ ...kafkaConfig('connaudit-bench-compare'), logLevel: logLevel.NOTHING });
  const tag = `ca-cmp-${process.pid}`;
  const dir = join(tmpdir(), tag);
  mkdirSync(dir, { recursive: true });
  const lab = new Lab(tag, udp);
  const results: RunResult[] = [];
  const zero: CompareResult['zeroLoss'] = { rates: [], highestZeroLoss: null };
  try {
    await lab.up();
    for (let run = 1; run <= runs; run++) {
      for (const o of observers) {
        progress(`run ${run}/${runs}: ${o}, ${connections} connections`);
        const r = await startObserver(o, lab, dir, `${tag}-${run}`, kafka);
        const cpu0 = r ? cpuUsec(r.cgroup) : 0;
        const s = await lab.storm(connections, workers);
        const done = r ? await stopObserver(o, r, kafka, udp) : { records: 0, bytes: 0, cpuUsec: cpu0, bpfNs: 0 };
        const cpuSeconds = (done.cpuUsec - cpu0) / 1e6;
        const bpfSeconds = done.bpfNs / 1e9;
        const conns = s.ok + s.failed;
        results.push({
          observer: o, connections: s.ok, failed: s.failed, stormSeconds: s.seconds, stormRate: Math.round(s.ok / s.seconds),
          cpuSeconds: round(cpuSeconds), bpfSeconds: round(bpfSeconds), cpuPer100k: round(((cpuSeconds + bpfSeconds) * 100_000) / conns),
          records: done.records, recordsPerConnection: round(done.records / conns), bytes: done.bytes, bytesPerConnection: round(done.bytes / conns),
          ...(done.agentLosses !== undefined ? { agentLosses: done.agentLosses } : {}),
        });
        const last = results.at(-1)!;
        progress(`  ${o}: storm ${last.stormRate}/s, CPU ${last.cpuPer100k} s per 100k (${last.cpuSeconds} s + BPF ${last.bpfSeconds} s), ${last.records} records for ${conns} connections, ${last.bytesPerConnection} B/connection`);
        for (const f of readdirSync(dir)) if (f.endsWith('.out')) rmSync(join(dir, f), { force: true });
      }
    }
    if (observers.includes('agent-kafka') && !udp) {
      const rateConns = opts.rateConnections ?? 20_000;
      for (const rate of opts.rates ?? [2_000, 4_000, 8_000, 16_000]) {
        progress(`zero-loss search: agent -> Kafka at ${rate} connections/s`);
        const r = (await startObserver('agent-kafka', lab, dir, `${tag}-rate${rate}`, kafka))!;
        const s = await lab.storm(rateConns, workers, rate);
        const done = await stopObserver('agent-kafka', r, kafka);
        const expected = 2 * s.ok + s.failed; // a client and a server socket per connection
        const losses = expected - done.records;
        zero.rates.push({ rate, achieved: Math.round(s.ok / s.seconds), connections: s.ok, records: done.records, losses });
        progress(`  ${rate}/s: achieved ${Math.round(s.ok / s.seconds)}/s, ${done.records} of ${expected} records`);
        if (losses > 0 || (done.agentLosses ?? 0) > 0) break;
        zero.highestZeroLoss = Math.max(zero.highestZeroLoss ?? 0, Math.round(s.ok / s.seconds));
      }
    }
  } finally {
    lab.down();
    writeFileSync(statsPath, statsBefore);
    if (mountedTracefs) { try { sh('umount', ['/sys/kernel/tracing']); } catch { /* busy: leave it */ } }
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = observers.map((o) => {
    const rs = results.filter((r) => r.observer === o);
    const lost = rs.filter((r) => r.agentLosses !== undefined).map((r) => r.agentLosses! / (r.connections + r.failed));
    return { observer: o, cpuPer100k: stat(rs.map((r) => r.cpuPer100k)), recordsPerConnection: stat(rs.map((r) => r.recordsPerConnection)), countedLossPerConnection: lost.length ? stat(lost) : null, bytesPerConnection: stat(rs.map((r) => r.bytesPerConnection)), stormRate: stat(rs.map((r) => r.stormRate)) };
  });
  return { transport: udp ? 'udp' : 'tcp', connections, workers, runs: results, summary, zeroLoss: zero };
}

/** The BENCHMARKS.md table rows: median (min–max). */
export function markdownTable(r: CompareResult): string {
  const f = (s: Stat): string => `${s.median} (${s.min}–${s.max})`;
  const rows = r.summary.map((s) => `| ${s.observer} | ${s.observer === 'none' ? '–' : f(s.cpuPer100k)} | ${s.observer === 'none' ? '–' : f(s.recordsPerConnection)} | ${s.countedLossPerConnection ? f(s.countedLossPerConnection) : '–'} | ${s.observer === 'none' ? '–' : f(s.bytesPerConnection)} | ${f(s.stormRate)} |`);
  const unit = r.transport === 'udp' ? 'exchange' : 'connection';
  return [`| Observer | CPU-s per 100k ${unit}s | Records per ${unit} | Counted losses per ${unit} | Bytes per ${unit} | Storm rate (${unit}s/s) |`, '|---|---|---|---|---|---|', ...rows].join('\n');
}
