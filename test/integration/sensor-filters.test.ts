import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, sweepStaleLabs, TCP_PEER, type NsHost } from '../lab/netns.js';

// Kernel-side filters and the per-CPU rate limit, for real: ignored ports and
// CIDRs produce no record and are counted as filtered; above the rate, 1 in N
// connections is kept and the rest are counted as sampled out, in the
// proportion configured. Counters come from the agent's "agent stopped" log line.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/connaudit.js');

interface AgentRun { docs: ConnectionDoc[]; stderr: string; proc: ChildProcess; exit: Promise<number | null> }

let lab: NetnsLab;
let client: NsHost;
let server: NsHost;
let tmp = '';
const children: ChildProcess[] = [];

async function startAgent(yaml: string): Promise<AgentRun> {
  const file = join(tmp, `agent-${children.length}.yaml`);
  writeFileSync(file, yaml);
  const proc = spawn('node', [CLI, 'agent', '--output', 'jsonl', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const run: AgentRun = { docs: [], stderr: '', proc, exit: new Promise((r) => proc.once('exit', r)) };
  createInterface({ input: proc.stdout! }).on('line', (l) => run.docs.push(JSON.parse(l) as ConnectionDoc));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent did not attach:\n${run.stderr}`)), 30_000);
    proc.stderr!.on('data', (b: Buffer) => { run.stderr += b.toString(); if (run.stderr.includes('sensor attached')) { clearTimeout(t); resolve(); } });
  });
  return run;
}

async function stopAgent(run: AgentRun): Promise<{ records: number; filtered: number; sampled_out: number; ringbuf_drops: number }> {
  run.proc.kill('SIGTERM');
  expect(await run.exit).toBe(0);
  const line = run.stderr.split('\n').find((l) => l.includes('"agent stopped"'));
  if (!line) throw new Error(`no "agent stopped" line in the agent's stderr:\n${run.stderr}`);
  return JSON.parse(line) as { records: number; filtered: number; sampled_out: number; ringbuf_drops: number };
}

const clientRun = (addr: string, port: number): string => client.exec(['python3', TCP_PEER, 'client', 'cli-filter', addr, String(port), 'normal', '100']);

const canRun = (): boolean => process.getuid?.() === 0 && existsSync('/sys/kernel/btf/vmlinux');

beforeAll(async () => {
  if (!canRun()) return;
  sweepStaleLabs();
  execFileSync('make', ['-C', join(ROOT, 'bpf')], { stdio: 'ignore' });
  lab = NetnsLab.create(2);
  [client, server] = lab.hosts as [NsHost, NsHost];
  tmp = mkdtempSync(join(tmpdir(), 'ca-filters-'));
  for (const port of [8101, 8102]) {
    const p = server.spawn(['python3', TCP_PEER, 'serve', 'srv-filter', '::', String(port), 'echo']);
    children.push(p);
    await new Promise((r) => p.stdout!.once('data', r));
  }
  const storm = server.spawn([join(ROOT, 'tools/bench/storm'), 'serve', '9000', '1']);
  children.push(storm);
  await new Promise((r) => storm.stdout!.once('data', r));
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('kernel-side filters and rate limit', () => {
  it('ignored ports and CIDRs leave no record and are counted as filtered', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const run = await startAgent(`netns_hosts:\n  ${client.path}: client-host\n  ${server.path}: server-host\nfilters:\n  ignore_ports: [8101]\n  ignore_cidrs: ["fd00:200::/64"]\n`);
    expect(clientRun(server.ip4, 8101)).toMatch(/^RECEIVED 2000$/m);
    expect(clientRun(server.ip6, 8102)).toMatch(/^RECEIVED 2000$/m);
    const kept = /^LOCAL \S+ (\d+)$/m.exec(clientRun(server.ip4, 8102))!;
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await stopAgent(run);
    const ours = run.docs.filter((d) => d.host.name === 'client-host' || d.host.name === 'server-host');
    expect(ours.filter((d) => d.destination.port === 8101)).toEqual([]);
    expect(ours.filter((d) => d.network.type === 'ipv6')).toEqual([]);
    const keptDocs = ours.filter((d) => d.source.port === Number(kept[1]));
    expect(keptDocs.map((d) => d.network.direction).sort()).toEqual(['egress', 'ingress']);
    // 8101: egress filtered at close (its local port is known only then) + the ingress child; v6: both sides.
    expect(stats.filtered).toBeGreaterThanOrEqual(4);
  });

  it('above the per-CPU rate, keeps 1 in N and counts the rest as sampled out', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const run = await startAgent(`netns_hosts:\n  ${client.path}: client-host\n  ${server.path}: server-host\nrate_limit: {per_cpu_per_sec: 5, burst: 5, sample_one_in: 5}\n`);
    const out = client.exec([join(ROOT, 'tools/bench/storm'), 'client', server.ip4, '9000', '1', '1']);
    const connections = Number(/connections (\d+)/.exec(out)![1]);
    expect(connections).toBeGreaterThan(500);
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await stopAgent(run);
    const attempts = 2 * connections; // an egress and an ingress socket each
    const stormDocs = run.docs.filter((d) => d.destination.port === 9000);
    expect(stats.ringbuf_drops).toBe(0);
    // Everything is either kept (token or sample) or sampled out; at most 2 CPUs x (burst + ~2 s of refill) ride on tokens.
    // The stats are host-wide: other non-loopback traffic on a shared machine may add a little.
    expect(stormDocs.length + stats.sampled_out).toBeGreaterThanOrEqual(attempts);
    expect(stormDocs.length + stats.sampled_out).toBeLessThanOrEqual(attempts + 50);
    const sampledShare = stats.sampled_out / attempts;
    expect(sampledShare).toBeGreaterThan(0.75);
    expect(sampledShare).toBeLessThan(0.81);
  });
});
