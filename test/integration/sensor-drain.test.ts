import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALL_ROOT } from '../../lib/paths.js';
import { ensureBuilt, startAgent, waitFor, type AgentProc } from '../helpers/agent-proc.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, sweepStaleLabs, type NsHost } from '../lab/netns.js';

// Stopping the agent while the kernel ring buffer still holds a backlog must
// lose nothing uncounted: every record is either written or counted
// (ring_unread_at_stop, next to the kernel's own drop counters), so
// records + counted losses == sockets the storm made.
//
// The backlog is made deterministic by a stuck reader: the test stops reading
// the agent's stdout, so the agent blocks on its output, its bounded queue
// fills and the storm's records pile up in the kernel ring. Once every socket
// of the storm is gone, the agent is stopped and the reader resumes.

const STORM = join(INSTALL_ROOT, 'tools/bench/storm');
const CONNECTIONS = 6000;
/** Records the agent holds outside the kernel ring (its bounded queue plus a batch): a larger backlog at the stop is in the ring. */
const IN_FLIGHT = 1024 + 128;

let lab: NetnsLab;
let client: NsHost;
let server: NsHost;
let tmp = '';
const children: ChildProcess[] = [];
const agents: AgentProc[] = [];

function config(name: string, extra: string): string {
  const p = join(tmp, `${name}.yaml`);
  writeFileSync(p, `host: drain-root
netns_hosts:
  ${client.path}: drain-client
  ${server.path}: drain-server
interim_interval_s: 600
health_interval_s: 1
sensor:
  only_netns: [${client.path}, ${server.path}]
${extra}`);
  return p;
}

/** Sockets of the storm still alive in either namespace (TIME-WAIT has no socket the sensor tracks). */
const liveSockets = (): number => [client, server]
  .map((h) => h.exec(['ss', '-Htn', 'state', 'connected', 'exclude', 'time-wait']).split('\n').filter((l) => l.includes(':9100')).length)
  .reduce((a, b) => a + b, 0);

const finals = (a: AgentProc): number => a.docs.filter((d) => d.connaudit.record_kind === 'final' && (d.host.name === 'drain-client' || d.host.name === 'drain-server')).length;

interface Run { sockets: number; atStop: number; records: number; health: Record<string, number>; counted: number; stopMs: number }

/** `twice`: a second SIGTERM once the agent says it is draining, while the reader is still stuck (so the drain cannot have finished). */
async function stormThenStop(a: AgentProc, twice = false): Promise<Run> {
  const out = a.child.stdout!;
  out.pause();
  // Let the pipe and the agent's queue fill, so the storm's records stay in the kernel ring.
  const res = client.exec([STORM, 'client', server.ip4, '9100', '60', '2', String(CONNECTIONS)]);
  const m = /connections (\d+) seconds ([\d.]+) failed (\d+)/.exec(res);
  if (!m) throw new Error(`tools/bench/storm printed no result: ${res}`);
  // A refused or timed-out connect has only the client socket; one that connected has two.
  const sockets = 2 * Number(m[1]) + Number(m[3]);
  await waitFor('the storm\'s sockets to be released', () => liveSockets() === 0, 20_000);
  const atStop = finals(a);
  const closed = new Promise<void>((r) => a.child.once('close', () => r()));
  const t0 = Date.now();
  a.child.kill('SIGTERM');
  if (twice) {
    await waitFor('the agent to say it is draining', () => a.logs.some((l) => String(l.msg).startsWith('draining the kernel ring buffer')), 10_000, a.stderr);
    a.child.kill('SIGTERM');
  }
  out.resume();
  expect(await a.exit).toBe(0);
  const stopMs = Date.now() - t0;
  await closed;
  const line = a.logs.filter((l) => l.msg === 'agent health').at(-1)?.health as Record<string, number | number[]> | undefined;
  if (!line) throw new Error(`no agent health line; stderr:\n${a.stderr()}`);
  const h: Record<string, number> = { ...(line as Record<string, number>), ringbufDrops: (line.ringbufDropsPerCpu as number[]).reduce((x, y) => x + y, 0) };
  const counted = ['ringbufDrops', 'untrackedMapFull', 'untrackedNomem', 'untrackedOther', 'sampledOut', 'ringUnreadAtStop'].reduce((n, k) => n + (h[k] ?? 0), 0);
  return { sockets, atStop, records: finals(a), health: h, counted, stopMs };
}

beforeAll(() => {
  if (process.getuid?.() !== 0) return;
  sweepStaleLabs();
  ensureBuilt();
  execFileSync('make', ['-C', join(INSTALL_ROOT, 'tools/bench')], { stdio: 'ignore' });
  lab = NetnsLab.create(2);
  [client, server] = lab.hosts as [NsHost, NsHost];
  client.sysctl('net.ipv4.ip_local_port_range', '1024 65000');
  const srv = server.spawn([STORM, 'serve', '9100', '2']);
  children.push(srv);
  tmp = mkdtempSync(join(tmpdir(), 'ca-drain-'));
  return new Promise<void>((resolve) => srv.stdout!.once('data', () => resolve()));
}, 60_000);

afterAll(() => {
  for (const a of agents) if (a.child.exitCode === null) a.child.kill('SIGKILL');
  for (const c of children) c.kill('SIGKILL');
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('agent stop with a backlog in the kernel ring buffer', () => {
  it('the stop drains the whole backlog while records keep coming out: records + counted losses == sockets made, nothing unread', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    // A budget no loaded test host exhausts: this case is about draining, the next about counting.
    const a = await startAgent(config('drain', '  stop_drain_s: 60\n'));
    agents.push(a);
    const r = await stormThenStop(a);
    const detail = JSON.stringify({ ...r, log: a.logs.filter((l) => /stop|drain/.test(String(l.msg))) });
    // The stop found a real backlog: more records unwritten than the agent holds outside the ring.
    expect(r.sockets - r.atStop, detail).toBeGreaterThan(IN_FLIGHT);
    expect(r.records + r.counted, detail).toBe(r.sockets);
    expect(r.health.ringUnreadAtStop, detail).toBe(0);
  }, 120_000);

  it('stop_drain_s: 0 gives up at once: what stays in the ring is counted as ring_unread_at_stop, never silently lost', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const a = await startAgent(config('nodrain', '  stop_drain_s: 0\n'));
    agents.push(a);
    const r = await stormThenStop(a);
    const detail = JSON.stringify(r);
    expect(r.sockets - r.atStop, detail).toBeGreaterThan(IN_FLIGHT);
    expect(r.health.ringUnreadAtStop, detail).toBeGreaterThan(0);
    expect(r.records + r.counted, detail).toBe(r.sockets);
    // Said when it happened, naming the setting.
    expect(a.logs.some((l) => l.ring_unread_at_stop === r.health.ringUnreadAtStop && String(l.msg).includes('sensor.stop_drain_s')), a.stderr()).toBe(true);
  }, 120_000);

  it('a second signal during the drain stops at once: the rest is counted, records + counted losses == sockets made', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const a = await startAgent(config('twice', '  stop_drain_s: 60\n'));
    agents.push(a);
    const r = await stormThenStop(a, true);
    const detail = JSON.stringify(r);
    expect(r.sockets - r.atStop, detail).toBeGreaterThan(IN_FLIGHT);
    expect(r.health.ringUnreadAtStop, detail).toBeGreaterThan(0);
    expect(r.records + r.counted, detail).toBe(r.sockets);
    expect(a.logs.some((l) => l.msg === 'second signal: stopping now without draining the rest'), a.stderr()).toBe(true);
    // Said when it happened, naming the setting.
    expect(a.logs.some((l) => l.ring_unread_at_stop === r.health.ringUnreadAtStop && String(l.msg).includes('sensor.stop_drain_s')), a.stderr()).toBe(true);
  }, 120_000);
});
