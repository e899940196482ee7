import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createLogger } from '../../lib/log.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { parseConfig } from '../../agent/config.js';
import { runAgent } from '../../agent/run.js';
import type { HealthCounters, RecordSink } from '../../agent/sink.js';
import { INSTALL_ROOT } from '../../lib/paths.js';

// Cost of the sensor under a connection storm: average ns per BPF program run
// (kernel.bpf_stats_enabled=1, run_time_ns / run_cnt from `bpftool prog show`)
// while tools/bench/storm makes short connections between two network namespaces.
// Two phases: a TCP storm (whose udp_egress/udp_ingress figures are the cost
// the UDP packet programs add to every packet that is not UDP), then a UDP
// storm of one-datagram exchanges on fresh sockets (the UDP programs' own cost).
// A third, bounded phase (`dns`) sends DNS queries to a lab server and
// measures the DNS programs on DNS packets; in the storms, dns_egress/
// dns_ingress are the cost they add to every packet that is not DNS.
// Needs root. `node dist/tools/bench/sensor.js [SECONDS] [WORKERS]`, or call
// benchSensor() from `connaudit bench`. Progress on stderr, result JSON on stdout.

export interface ProgCost { name: string; runs: number; avgNs: number }
export interface DnsBenchResult {
  queries: number;
  answers: number;
  seconds: number;
  /** DNS records the agent wrote in this phase (one per query: answered, or unanswered at the timeout). */
  records: number;
  programs: ProgCost[];
  /** dns_egress per query / dns_ingress per answer, with the runs on other packets taken out (estimate). */
  nsPerQuery: number | null;
  nsPerAnswer: number | null;
}
export interface SensorBenchResult {
  seconds: number;
  connections: number;
  connectionsPerSec: number;
  /** Records the agent wrote over both phases (two per TCP connection, two UDP flows per exchange). */
  records: number;
  ringbufDrops: number;
  /** During the TCP storm: the TCP programs, and the UDP packet programs' early exit on non-UDP packets. */
  programs: ProgCost[];
  udp: { seconds: number; exchanges: number; unanswered: number; exchangesPerSec: number; programs: ProgCost[] };
  dns: DnsBenchResult | null;
}

interface ProgInfo { id: number; name: string; run_time_ns?: number; run_cnt?: number }

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
function runAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}
const progs = (): ProgInfo[] => JSON.parse(sh('bpftool', ['prog', 'show', '--json'])) as ProgInfo[];

class CountingSink implements RecordSink {
  records = 0;
  dnsRecords = 0;
  drops = 0;
  async write(r: ConnectionRecord): Promise<void> { if (r.kind === 'dns') this.dnsRecords++; else this.records++; }
  async reportHealth(h: HealthCounters): Promise<void> { this.drops = h.ringbufDropsPerCpu.reduce((a, b) => a + b, 0); }
  async close(): Promise<void> {}
}

function costs(end: ProgInfo[], start: Map<number, ProgInfo>): ProgCost[] {
  return end.map((p) => {
    const s = start.get(p.id);
    const runs = (p.run_cnt ?? 0) - (s?.run_cnt ?? 0);
    const ns = (p.run_time_ns ?? 0) - (s?.run_time_ns ?? 0);
    return { name: p.name, runs, avgNs: runs > 0 ? Math.round(ns / runs) : 0 };
  });
}

export async function benchSensor(seconds = 10, workers = 4, dnsQueries = 5000): Promise<SensorBenchResult> {
  const log = createLogger('bench.sensor');
  const root = INSTALL_ROOT;
  execFileSync('make', ['-C', `${root}/bpf`], { stdio: 'ignore' });
  const storm = `${root}/tools/bench/storm`;
  const tag = `ca-bench-${process.pid}`;
  const [nsC, nsS] = [`${tag}-c`, `${tag}-s`];
  const statsPath = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = readFileSync(statsPath, 'utf8').trim();
  const cleanup = (): void => {
    for (const ns of [nsC, nsS]) {
      try { sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean).forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }); } catch { /* none */ }
      try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    }
    writeFileSync(statsPath, statsBefore);
  };
  try {
    for (const ns of [nsC, nsS]) sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', nsC, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsS]);
    for (const [ns, ip] of [[nsC, '10.201.0.1'], [nsS, '10.201.0.2']] as const) {
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['netns', 'exec', nsC, 'sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']);
    writeFileSync(statsPath, '1');

    const server = spawn('ip', ['netns', 'exec', nsS, storm, 'serve', '9000', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));

    // A short UDP idle timeout so the echo server's flows (its socket never closes) end within the run.
    const cfg = parseConfig('interim_interval_s: 60\nhealth_interval_s: 1\nsensor:\n  udp_idle_timeout_s: 1\n', '(bench)');
    const sink = new CountingSink();
    const before = new Set(progs().map((p) => p.id));
    const stop = new AbortController();
    let agentRun!: Promise<void>;
    await new Promise<void>((resolve, reject) => {
      agentRun = runAgent({ cfg, sink, log, agentVersion: 'bench', signal: stop.signal, onReady: resolve });
      agentRun.catch(reject);
    });
    // Ours are the programs that appeared while our agent attached; the machine
    // is shared, and another agent loading later must not be counted as ours.
    const mine = new Set(progs().filter((p) => !before.has(p.id) && /^(on_|udp_|dns_)/.test(p.name)).map((p) => p.id));
    const ours = (): ProgInfo[] => progs().filter((p) => mine.has(p.id));
    const start = new Map(ours().map((p) => [p.id, p]));
    process.stderr.write(`bench: storm for ${seconds}s with ${workers} client workers...\n`);
    // Async: the agent runs on this thread's event loop and must keep reading while the storm runs.
    const out = await runAsync('ip', ['netns', 'exec', nsC, storm, 'client', '10.201.0.2', '9000', String(seconds), String(workers)]);
    const m = /connections (\d+) seconds ([\d.]+)/.exec(out);
    if (!m) throw new Error(`tools/bench/storm printed no result: ${out}`);
    const end = ours();
    const programs = costs(end, start);

    const userver = spawn('ip', ['netns', 'exec', nsS, storm, 'userve', '9001', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => userver.stdout!.once('data', () => resolve()));
    process.stderr.write(`bench: UDP storm for ${seconds}s with ${workers} client workers...\n`);
    const startUdp = new Map(ours().map((p) => [p.id, p]));
    const uout = await runAsync('ip', ['netns', 'exec', nsC, storm, 'uclient', '10.201.0.2', '9001', String(seconds), String(workers)]);
    const um = /connections (\d+) seconds ([\d.]+) failed (\d+)/.exec(uout);
    if (!um) throw new Error(`tools/bench/storm uclient printed no result: ${uout}`);
    const udpPrograms = costs(ours(), startUdp);
    await new Promise((r) => setTimeout(r, 3000)); // the last batches, the server flows' idle timeout, a health tick
    server.kill('SIGKILL');
    userver.kill('SIGKILL');
    const exchanges = Number(um[1]);
    const usecs = Number(um[2]);
    const udp = { seconds: usecs, exchanges, unanswered: Number(um[3]), exchangesPerSec: Math.round(exchanges / usecs), programs: udpPrograms };

    let dns: DnsBenchResult | null = null;
    if (dnsQueries > 0 && cfg.dns.enabled) {
      const dnsServer = spawn('ip', ['netns', 'exec', nsS, process.execPath, `${root}/dist/test/lab/dns-server.js`, '53', '60', 'bench.example.com=10.201.0.2'], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve) => dnsServer.stdout!.once('data', () => resolve()));
        const dnsStart = new Map(ours().map((p) => [p.id, p]));
        const recordsBefore = sink.dnsRecords;
        process.stderr.write(`bench: ${dnsQueries} DNS queries...\n`);
        const dout = await runAsync('ip', ['netns', 'exec', nsC, process.execPath, `${root}/dist/tools/bench/dns-load.js`, '10.201.0.2', 'bench.example.com', String(dnsQueries), '32', '30']);
        const dm = /queries (\d+) answers (\d+) seconds ([\d.]+)/.exec(dout);
        if (!dm) throw new Error(`dns-load printed no result: ${dout}`);
        const dnsPrograms = costs(ours().filter((p) => p.name.startsWith('dns_')), dnsStart);
        // The cgroup_skb programs also ran on every other packet of the host
        // meanwhile (the server's answers, other traffic): take those runs out
        // at the per-packet cost the storm measured, leaving the cost per DNS message.
        const nonDnsNs = (name: string): number => programs.find((p) => p.name === name)?.avgNs ?? 0;
        const perMessage = (name: string, messages: number): number | null => {
          const p = dnsPrograms.find((x) => x.name === name);
          if (!p || messages <= 0 || p.runs < messages) return null;
          return Math.round((p.avgNs * p.runs - nonDnsNs(name) * (p.runs - messages)) / messages);
        };
        // Answered transactions are written at once; give the agent a poll or two.
        await new Promise((r) => setTimeout(r, 1500));
        const queries = Number(dm[1]);
        const answers = Number(dm[2]);
        dns = {
          queries, answers, seconds: Number(dm[3]), records: sink.dnsRecords - recordsBefore, programs: dnsPrograms,
          nsPerQuery: perMessage('dns_egress', queries), nsPerAnswer: perMessage('dns_ingress', answers),
        };
      } finally {
        dnsServer.kill('SIGKILL');
      }
    }
    stop.abort();
    await agentRun;
    const connections = Number(m[1]);
    const secs = Number(m[2]);
    return { seconds: secs, connections, connectionsPerSec: Math.round(connections / secs), records: sink.records, ringbufDrops: sink.drops, programs, udp, dns };
  } finally {
    cleanup();
  }
}

if (process.argv[1]?.endsWith('bench/sensor.js')) {
  benchSensor(Number(process.argv[2] ?? 10), Number(process.argv[3] ?? 4))
    .then((r) => { process.stdout.write(`${JSON.stringify(r, null, 2)}\n`); process.exit(0); })
    .catch((e: Error) => { process.stderr.write(`bench sensor: ${e.message}\n`); process.exit(1); });
}
