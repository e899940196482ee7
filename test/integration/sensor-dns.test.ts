import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, sweepStaleLabs, TCP_PEER, type NsHost } from '../lab/netns.js';

// DNS with real traffic between two namespace hosts: a DNS server (dns-packet
// over node dgram/net) in one answers A and AAAA for a test name, NXDOMAIN for
// others, and never answers names under "silent."; a client in the other
// resolves through Node's own stub resolver (c-ares), connects over TCP to
// the address it got and sends UDP there. The records come from the real
// agent (`connaudit agent --output jsonl`, as root), the counters from its
// /metrics.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/connaudit.js');
const NAME = 'svc.dnslab.example.com';
const COMM = 'dns-cli';
const TCP_PORT = 8201;
const UDP_PORT = 8202;

let lab: NsHost[] = [];
let netnsLab: NetnsLab | null = null;
let agent: ChildProcess | null = null;
let agentExit: Promise<number | null>;
let agentErr = '';
const docs: ConnectionDoc[] = [];
const procs: ChildProcess[] = [];
const steps = new Map<string, { result?: unknown; error?: string }>();
let clientPid = 0;
let metricsText = '';
let tmp = '';
let ready = false;

function ensureBuilt(): void {
  execFileSync('make', ['-C', join(ROOT, 'bpf')], { stdio: 'ignore' });
  const out = join(ROOT, 'dist/test/lab/dns-client.js');
  const src = join(ROOT, 'agent/dns-tracker.ts');
  if (!existsSync(out) || !existsSync(join(ROOT, 'dist/agent/dns-tracker.js')) || statSync(join(ROOT, 'dist/agent/dns-tracker.js')).mtimeMs < statSync(src).mtimeMs) {
    try { execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore', cwd: ROOT }); } catch { /* the run below proves it compiled */ }
  }
  if (!existsSync(out)) throw new Error('dist/test/lab/dns-client.js is missing after tsc: run `npx tsc -p .` and read its errors');
}

function waitReady(p: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not print READY`)), 10_000);
    p.stdout!.once('data', () => { clearTimeout(t); resolve(); });
    p.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; records so far:\n${docs.map((d) => `${d.connaudit.record_kind} ${d.network.transport} ${d.process?.name} ${d.destination.ip}:${d.destination.port} ${d.dns?.question?.name ?? ''} ${d.connaudit.conn_state}`).join('\n')}\nagent stderr tail:\n${agentErr.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dnsOf = (qname: string, qtype = 'A', transport: 'udp' | 'tcp' = 'udp'): ConnectionDoc | undefined =>
  docs.find((d) => d.connaudit.record_kind === 'dns' && d.dns?.question?.name === qname && d.dns.question.type === qtype && d.network.transport === transport);
const flowOf = (transport: 'tcp' | 'udp', port: number): ConnectionDoc | undefined =>
  docs.find((d) => d.connaudit.record_kind === 'final' && d.network.transport === transport && d.network.direction === 'egress' && d.destination.port === port && d.process?.name === COMM);

const canRun = (): boolean => process.getuid?.() === 0 && existsSync('/sys/kernel/btf/vmlinux');

beforeAll(async () => {
  if (!canRun()) return;
  sweepStaleLabs();
  ensureBuilt();
  netnsLab = NetnsLab.create(2);
  lab = netnsLab.hosts;
  const [client, server] = lab as [NsHost, NsHost];
  tmp = mkdtempSync(join(tmpdir(), 'ca-dns-'));
  const cfg = join(tmp, 'agent.yaml');
  // only_netns: the agent sees the whole host; the counters below must be this test's alone.
  writeFileSync(cfg, `host: dns-test-root
netns_hosts:
  ${client.path}: dns-client-host
  ${server.path}: dns-server-host
sensor:
  only_netns: [${client.path}, ${server.path}]
  scan_existing_sockets: false
dns:
  timeout_s: 1
metrics:
  host: 127.0.0.1
  port: 0
`);
  agent = spawn('node', [CLI, 'agent', '--output', 'jsonl', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  agentExit = new Promise((resolve) => agent!.once('exit', (code) => resolve(code)));
  createInterface({ input: agent.stdout! }).on('line', (line) => { docs.push(JSON.parse(line) as ConnectionDoc); });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent did not attach within 30 s; stderr:\n${agentErr}`)), 30_000);
    agent!.stderr!.on('data', (b: Buffer) => {
      agentErr += b.toString();
      if (agentErr.includes('sensor attached')) { clearTimeout(t); resolve(); }
    });
    agent!.once('exit', (code) => { clearTimeout(t); reject(new Error(`agent exited with ${code} before attaching:\n${agentErr}`)); });
  });
  const metricsPort = Number(/"port":(\d+)[^\n]*metrics and health listening/.exec(agentErr)?.[1]);

  const dnsServer = server.spawn(['node', join(ROOT, 'dist/test/lab/dns-server.js'), '53', '60', `${NAME}=${server.ip4},${server.ip6}`]);
  const echo = server.spawn(['python3', TCP_PEER, 'serve', 'srv-echo', '::', String(TCP_PORT), 'echo']);
  procs.push(dnsServer, echo);
  await Promise.all([waitReady(dnsServer, 'dns server'), waitReady(echo, 'echo server')]);

  const c = client.spawn(['node', join(ROOT, 'dist/test/lab/dns-client.js'), COMM, server.ip4, NAME, String(TCP_PORT), String(UDP_PORT)]);
  procs.push(c);
  let out = '';
  c.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  await new Promise((r) => c.once('exit', r));
  for (const line of out.split('\n').filter(Boolean)) {
    const s = JSON.parse(line) as { step: string; result?: unknown; error?: string };
    steps.set(s.step, s);
  }
  // The client is gone; its pid is on its DNS records: take it from the query's record once there.
  await waitFor('the DNS records of every query and the TCP flow', () =>
    [dnsOf(NAME), dnsOf(NAME, 'AAAA'), dnsOf(`missing.${NAME}`), dnsOf(`silent.${NAME}`), dnsOf(`big.${NAME}`, 'A', 'tcp'), flowOf('tcp', TCP_PORT)].every(Boolean));
  clientPid = dnsOf(NAME)?.process?.pid ?? 0;
  metricsText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  agent.kill('SIGTERM');
  ready = true;
}, 120_000);

afterAll(() => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  netnsLab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const metric = (name: string, labels: string): number => {
  const m = new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} (\\d+)`, 'm').exec(metricsText);
  return m ? Number(m[1]) : NaN;
};

describe('DNS in the sensor, with real resolutions between namespace hosts', () => {
  it('the client resolved, connected and sent as the test expects (the traffic is real)', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(ready).toBe(true);
    expect(steps.get('resolve4')?.result).toEqual([lab[1]!.ip4]);
    expect(steps.get('resolve6')?.result).toEqual([lab[1]!.ip6]);
    expect((steps.get('tcp')?.result as { received: number }).received).toBeGreaterThan(0);
    expect(steps.get('nxdomain')?.error).toBe('ENOTFOUND');
    expect(steps.get('silent')?.error).toBe('ETIMEOUT');
    expect(steps.get('tcp-dns')?.result).toEqual([lab[1]!.ip4]);
    expect(await agentExit).toBe(0);
  });

  it('a DNS record names the querying process, the question, the rcode, the resolved address and the answers', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const [client, server] = lab as [NsHost, NsHost];
    const a = dnsOf(NAME)!;
    expect(clientPid).toBeGreaterThan(0);
    expect(a).toMatchObject({
      host: { name: 'dns-client-host' },
      process: { name: COMM, pid: clientPid },
      event: { action: 'dns-query', outcome: 'success' },
      network: { transport: 'udp', protocol: 'dns', direction: 'egress', type: 'ipv4' },
      source: { ip: client.ip4, packets: 1 },
      destination: { ip: server.ip4, port: 53, packets: 1 },
      dns: {
        question: { name: NAME, type: 'A', registered_domain: 'example.com' },
        response_code: 'NOERROR',
        resolved_ip: [server.ip4],
        answers: [{ name: NAME, type: 'A', ttl: 60, data: server.ip4 }],
      },
      connaudit: { record_kind: 'dns', conn_state: 'SF', close_reason: 'answered', netns: client.inode },
    });
    expect(a.process?.executable).toMatch(/node/);
    expect(Number(a.dns?.id)).toBeGreaterThanOrEqual(0);
    expect(a.event.duration).toBeGreaterThan(0);
    const aaaa = dnsOf(NAME, 'AAAA')!;
    expect(aaaa.dns).toMatchObject({ response_code: 'NOERROR', resolved_ip: [server.ip6], answers: [{ type: 'AAAA', data: server.ip6 }] });
    expect(aaaa.process?.name).toBe(COMM);
  });

  it('NXDOMAIN is recorded with its response code and no address', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const nx = dnsOf(`missing.${NAME}`)!;
    expect(nx.dns).toMatchObject({ question: { name: `missing.${NAME}`, type: 'A' }, response_code: 'NXDOMAIN' });
    expect(nx.dns?.resolved_ip ?? []).toEqual([]);
    expect(nx.event.outcome).toBe('failure');
    expect(nx.connaudit).toMatchObject({ conn_state: 'SF', close_reason: 'answered' });
  });

  it('an unanswered query is recorded after the DNS timeout: S0, close_reason timeout, no response', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const s = dnsOf(`silent.${NAME}`)!;
    expect(s.connaudit).toMatchObject({ conn_state: 'S0', close_reason: 'timeout' });
    expect(s.dns?.response_code).toBeUndefined();
    expect(s.process?.name).toBe(COMM);
    expect(s.destination.packets ?? 0).toBe(0);
    // timeout_s: 1 -> the record spans the timeout
    expect(s.event.duration).toBeGreaterThanOrEqual(1e9);
  });

  it('DNS over TCP (after a truncated UDP answer) is read too', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const t = dnsOf(`big.${NAME}`, 'A', 'tcp')!;
    expect(t).toMatchObject({ process: { name: COMM }, destination: { port: 53 }, dns: { response_code: 'NOERROR', resolved_ip: [lab[1]!.ip4] } });
    expect(dnsOf(`big.${NAME}`, 'A', 'udp')?.dns?.answers ?? []).toEqual([]);
  });

  it('the TCP connection to the resolved address carries destination.domain and registered_domain', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(flowOf('tcp', TCP_PORT)!.destination).toMatchObject({ ip: lab[1]!.ip4, port: TCP_PORT, domain: NAME, registered_domain: 'example.com' });
    // The server's side of that connection is not named: it resolved nothing.
    const ingress = docs.find((d) => d.network.direction === 'ingress' && d.destination.port === TCP_PORT);
    expect(ingress?.destination.domain).toBeUndefined();
  });

  it('the UDP flow to the resolved address carries destination.domain (needs the UDP sensor)', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    await waitFor('the UDP flow record (written at agent stop)', () => flowOf('udp', UDP_PORT) !== undefined, 5_000);
    expect(flowOf('udp', UDP_PORT)!.destination).toMatchObject({ ip: lab[1]!.ip4, domain: NAME, registered_domain: 'example.com' });
  });

  it('every query and answer the kernel read is in a record: the counters add up, nothing dropped', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    // 6 queries: A, AAAA, missing, silent, big over UDP (truncated) and again over TCP; 5 answers.
    expect(metric('connaudit_agent_dns_messages_total', 'kind="query"')).toBe(6);
    expect(metric('connaudit_agent_dns_messages_total', 'kind="answer"')).toBe(5);
    expect(metric('connaudit_agent_dns_dropped_total', 'reason="ring_full"')).toBe(0);
    expect(metric('connaudit_agent_dns_dropped_total', 'reason="not_dns"')).toBe(0);
    expect(metric('connaudit_agent_dns_dropped_total', 'reason="unreadable_in_agent"')).toBe(0);
    expect(metric('connaudit_agent_dns_transactions_total', 'outcome="answered"')).toBe(5);
    expect(metric('connaudit_agent_dns_transactions_total', 'outcome="timeout"')).toBe(1);
    expect(docs.filter((d) => d.connaudit.record_kind === 'dns')).toHaveLength(6);
  });
});
