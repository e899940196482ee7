import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { communityId } from '../../lib/community-id.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, sweepStaleLabs, TCP_PEER, type NsHost } from '../lab/netns.js';

// The real sensor against real TCP between two namespace "hosts": each
// conn_state outcome happens for real and its record is read from
// `connaudit agent --output jsonl` (the built CLI, as root).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/connaudit.js');

interface ClientResult { name: string; local?: { ip: string; port: number }; error?: string; received?: number; server: string; port: number }

let lab: NetnsLab;
let client: NsHost;
let server: NsHost;
let agent: ChildProcess | null = null;
let agentExit: Promise<number | null>;
const docs: ConnectionDoc[] = [];
const servers: ChildProcess[] = [];
const results = new Map<string, ClientResult>();
let tmp = '';
let ready = false;

function ensureBuilt(): void {
  execFileSync('make', ['-C', join(ROOT, 'bpf')], { stdio: 'ignore' });
  const out = join(ROOT, 'dist/agent/run.js');
  const src = join(ROOT, 'agent/run.ts');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    // tsc emits even when unrelated files have type errors; the run below proves ours compiled.
    try { execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore', cwd: ROOT }); } catch { /* see above */ }
  }
  if (!existsSync(out)) throw new Error('dist/agent/run.js is missing after tsc: run `npx tsc -p .` and read its errors');
}

function startServer(host: NsHost, name: string, bind: string, port: number, mode: string): Promise<void> {
  const p = host.spawn(['python3', TCP_PEER, 'serve', name, bind, String(port), mode]);
  servers.push(p);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server ${name} did not print READY`)), 10_000);
    p.stdout!.once('data', () => { clearTimeout(t); resolve(); });
    p.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
  });
}

function runClient(name: string, addr: string, port: number, mode: string, sendBytes = 1000, holdS = 0): Promise<ClientResult> {
  const args = ['python3', TCP_PEER, 'client', name, addr, String(port), mode, String(sendBytes), String(holdS)];
  const p = client.spawn(args);
  let out = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  return new Promise((resolve) => {
    p.once('exit', () => {
      const r: ClientResult = { name, server: addr, port };
      const local = /^LOCAL (\S+) (\d+)$/m.exec(out);
      if (local) r.local = { ip: local[1]!, port: Number(local[2]) };
      const err = /^ERROR (\S+)$/m.exec(out);
      if (err) r.error = err[1]!;
      const got = /^RECEIVED (\d+)$/m.exec(out);
      if (got) r.received = Number(got[1]);
      results.set(name, r);
      resolve(r);
    });
  });
}

const finalOf = (name: string): ConnectionDoc | undefined =>
  docs.find((d) => d.process?.name === name && d.connaudit.record_kind === 'final' && d.network.direction === 'egress');

/** The server's ingress record of a client's connection, found by the client's ephemeral port. */
const ingressOf = (name: string): ConnectionDoc | undefined => {
  const r = results.get(name);
  return docs.find((d) => d.network.direction === 'ingress' && d.connaudit.record_kind === 'final' && r?.local !== undefined && d.source.port === r.local.port);
};

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; records so far:\n${docs.map((d) => `${d.host.name} ${d.network.direction} ${d.process?.name} ${d.connaudit.record_kind} ${d.connaudit.conn_state}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const CLIENTS = ['cli-sf', 'cli-rej', 'cli-s0', 'cli-rstr', 'cli-rsto', 'cli-v6', 'cli-lossy', 'cli-hold'];

// Hooks cannot skip; each test calls skipUnless itself (and fails under CI=true).
const canRun = (): boolean => process.getuid?.() === 0 && existsSync('/sys/kernel/btf/vmlinux');

beforeAll(async () => {
  if (!canRun()) return;
  sweepStaleLabs();
  ensureBuilt();
  lab = NetnsLab.create(2);
  [client, server] = lab.hosts as [NsHost, NsHost];
  client.sysctl('net.ipv4.tcp_syn_retries', 1);
  server.rejectWithReset(8002);
  server.dropSyn(8003);
  server.randomDrop(8007, 0.1);

  tmp = mkdtempSync(join(tmpdir(), 'ca-sensor-'));
  const cfg = join(tmp, 'agent.yaml');
  writeFileSync(cfg, `host: sensor-test-root
environment: test
netns_hosts:
  ${client.path}: client-host
  ${server.path}: server-host
interim_interval_s: 2
`);
  agent = spawn('node', [CLI, 'agent', '--output', 'jsonl', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  agentExit = new Promise((resolve) => agent!.once('exit', (code) => resolve(code)));
  createInterface({ input: agent.stdout! }).on('line', (line) => { docs.push(JSON.parse(line) as ConnectionDoc); });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent did not attach within 30 s; stderr:\n${stderr}`)), 30_000);
    agent!.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes('sensor attached')) { clearTimeout(t); resolve(); }
    });
    agent!.once('exit', (code) => { clearTimeout(t); reject(new Error(`agent exited with ${code} before attaching:\n${stderr}`)); });
  });

  // '::' is dual-stack: IPv4 clients reach it as v4-mapped, which must come out as IPv4.
  await Promise.all([
    startServer(server, 'srv-sf', '::', 8001, 'echo'),
    startServer(server, 'srv-rst', '10.200.0.2', 8004, 'reset'),
    startServer(server, 'srv-lossy', '10.200.0.2', 8007, 'echo'),
  ]);
  const s4 = server.ip4;
  await Promise.all([
    runClient('cli-sf', s4, 8001, 'normal', 1000),
    runClient('cli-rej', s4, 8002, 'normal'),
    runClient('cli-s0', s4, 8003, 'normal'),
    runClient('cli-rstr', s4, 8004, 'normal', 10),
    runClient('cli-rsto', s4, 8001, 'abort', 500),
    runClient('cli-v6', server.ip6, 8001, 'normal', 300),
    runClient('cli-lossy', s4, 8007, 'normal', 2_000_000),
    runClient('cli-hold', s4, 8001, 'hold', 100, 5),
  ]);
  await waitFor('a final egress record of every client', () => CLIENTS.every((c) => finalOf(c) !== undefined));
  await waitFor('the ingress records of cli-sf and cli-hold', () => ingressOf('cli-sf') !== undefined && ingressOf('cli-hold') !== undefined);
  agent.kill('SIGTERM');
  ready = true;
}, 120_000);

afterAll(() => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  for (const s of servers) s.kill('SIGKILL');
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('eBPF sensor in network-namespace hosts', () => {
  it('stops cleanly on SIGTERM (exit 0)', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(ready).toBe(true);
    expect(await agentExit).toBe(0);
  });

  it('normal exchange: SF with bytes both ways, connect latency, egress and ingress records', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const c = results.get('cli-sf')!;
    expect(c.received).toBe(2000);
    const eg = finalOf('cli-sf')!;
    expect(eg).toMatchObject({
      host: { name: 'client-host' },
      network: { direction: 'egress', type: 'ipv4' },
      source: { ip: '10.200.0.1', port: c.local!.port, bytes: 1000 },
      destination: { ip: '10.200.0.2', port: 8001, bytes: 2000 },
      connaudit: { conn_state: 'SF', close_reason: 'fin', netns: client.inode },
      service: { environment: 'test' },
    });
    expect(eg.connaudit.connect_latency_ms).toBeGreaterThan(0);
    expect(eg.event.duration).toBeGreaterThan(0);
    const ing = ingressOf('cli-sf')!;
    // The server socket is dual-stack ('::'): the v4-mapped peer must come out as plain IPv4.
    expect(ing).toMatchObject({
      host: { name: 'server-host' },
      process: { name: 'srv-sf' },
      network: { direction: 'ingress', type: 'ipv4' },
      source: { ip: '10.200.0.1', port: c.local!.port, bytes: 1000 },
      destination: { ip: '10.200.0.2', port: 8001, bytes: 2000 },
      connaudit: { conn_state: 'SF', netns: server.inode },
    });
    expect(ing.network.community_id).toBe(eg.network.community_id);
    // The server outlives its connections, so /proc enrichment must have worked.
    expect(ing.process?.executable).toMatch(/python3/);
    expect(ing.process?.parent?.name).toBeTruthy();
  });

  it('refused: REJ', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(results.get('cli-rej')!.error).toBe('ECONNREFUSED');
    expect(finalOf('cli-rej')!.connaudit).toMatchObject({ conn_state: 'REJ', close_reason: 'refused', rst_received: 1 });
    expect(finalOf('cli-rej')!.destination.port).toBe(8002);
  });

  it('dropped SYN: S0 with syn_retransmits > 0', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(results.get('cli-s0')!.error).toBe('ETIMEDOUT');
    const d = finalOf('cli-s0')!;
    expect(d.connaudit).toMatchObject({ conn_state: 'S0', close_reason: 'syn_timeout' });
    expect(d.connaudit.syn_retransmits).toBeGreaterThan(0);
    expect(d.connaudit.connect_latency_ms).toBeUndefined();
  });

  it('server reset after accept: RSTR on the client', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    // The client learns of the reset on its next call: read() says ECONNRESET,
    // but when the RST lands before its shutdown(SHUT_WR), that says ENOTCONN.
    expect(['ECONNRESET', 'ENOTCONN']).toContain(results.get('cli-rstr')!.error);
    expect(finalOf('cli-rstr')!.connaudit).toMatchObject({ conn_state: 'RSTR', close_reason: 'rst_received' });
    const ing = ingressOf('cli-rstr')!;
    expect(ing.process?.name).toBe('srv-rst');
    expect(ing.connaudit).toMatchObject({ conn_state: 'RSTR', close_reason: 'rst_sent', rst_sent: 1 });
  });

  it('client abort (SO_LINGER 0): RSTO', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(finalOf('cli-rsto')!.connaudit).toMatchObject({ conn_state: 'RSTO', close_reason: 'rst_sent', rst_sent: 1 });
    expect(ingressOf('cli-rsto')!.connaudit).toMatchObject({ conn_state: 'RSTO', close_reason: 'rst_received' });
  });

  it('IPv6 exchange: network.type ipv6', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const d = finalOf('cli-v6')!;
    expect(d).toMatchObject({ network: { type: 'ipv6' }, source: { ip: 'fd00:200::1', bytes: 300 }, destination: { ip: 'fd00:200::2', port: 8001 }, connaudit: { conn_state: 'SF' } });
  });

  it('lossy transfer: retransmits > 0', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(results.get('cli-lossy')!.received).toBe(2000);
    const d = finalOf('cli-lossy')!;
    expect(d.connaudit.retransmits).toBeGreaterThan(0);
    expect(d.source.bytes).toBe(2_000_000);
  });

  it('open past the interim interval: an interim S1 record, then the final', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const uid = finalOf('cli-hold')!.connaudit.conn_uid;
    const interim = docs.filter((d) => d.connaudit.conn_uid === uid && d.connaudit.record_kind === 'interim');
    expect(interim.length).toBeGreaterThan(0);
    expect(interim[0]).toMatchObject({ event: { type: ['connection', 'info'] }, connaudit: { conn_state: 'S1', close_reason: 'open' }, source: { bytes: 100 } });
    expect(finalOf('cli-hold')!.connaudit.conn_state).toBe('SF');
    // Same 5-tuple as the final record, so analysts can pivot on community_id.
    for (const i of interim) {
      expect(i.source.port).toBe(finalOf('cli-hold')!.source.port);
      expect(i.network.community_id).toBe(finalOf('cli-hold')!.network.community_id);
    }
    // A SYN that is never answered is an attempt, not an open connection: only its final S0 record exists.
    const s0 = finalOf('cli-s0')!.connaudit.conn_uid;
    expect(docs.filter((d) => d.connaudit.conn_uid === s0).map((d) => d.connaudit.record_kind)).toEqual(['final']);
  });

  it('every record: the process that owns the socket and a correct community_id', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    for (const name of CLIENTS) {
      const r = results.get(name)!;
      const d = finalOf(name)!;
      expect(d.process?.name, name).toBe(name);
      // /proc enrichment is best effort: a client that exited before its record was read has no exe.
      if (d.process?.executable !== undefined) expect(d.process.executable, name).toMatch(/python3/);
      // Recomputed from what the client itself saw, not from the document.
      const saddr = r.local?.ip ?? d.source.ip;
      const sport = r.local?.port ?? d.source.port;
      expect(d.source.port, name).toBe(sport);
      expect(d.network.community_id, name).toBe(communityId({ proto: 6, saddr, daddr: r.server, sport, dport: r.port }));
    }
    const ours = docs.filter((d) => d.host.name === 'client-host' || d.host.name === 'server-host');
    for (const d of ours) {
      expect(d.process?.name, `${d.host.name} ${d.source.port}->${d.destination.port}`).toMatch(/^(cli|srv)-/);
    }
  });
});

describe('Sensor handle', () => {
  it('a Sensor that was stopped can be started again and still reports connections', async (ctx) => {
    if (await skipUnless(ctx, 'bpf')) return;
    ensureBuilt();
    // The worker is a separate file, so the built code is used (vitest cannot run a .ts worker).
    const { Sensor } = (await import(join(ROOT, 'dist/agent/sensor.js'))) as typeof import('../../agent/sensor.js');
    const { buildConfigBlob } = await import('../../agent/bpf-config.js');
    const { createLogger } = await import('../../lib/log.js');
    const configBlob = buildConfigBlob({ ignoreLoopback: false, ignorePorts: [], ignoreCidrs: [], ratePerSec: 0, burst: 0, sampleN: 0 });
    const sensor = new Sensor({ objectPath: join(ROOT, 'bpf/connaudit.bpf.o'), configBlob, log: createLogger('sensor-restart-test') });
    const ports: number[] = [];
    sensor.on('events', (evs: Array<{ dport: number }>) => { for (const e of evs) ports.push(e.dport); });
    const net = await import('node:net');
    const srv = net.createServer((s) => s.end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const connectOnce = (): Promise<void> => new Promise((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.end());
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    try {
      await sensor.start();
      await sensor.stop();
      ports.length = 0;
      await sensor.start();
      await connectOnce();
      const end = Date.now() + 10_000;
      while (!ports.includes(port) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      await sensor.stop();
      expect(ports).toContain(port);
    } finally {
      await sensor.stop();
      srv.close();
    }
  });
});
