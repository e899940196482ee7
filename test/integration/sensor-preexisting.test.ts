import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { ensureBuilt, startAgent, startClient, startServer, waitFor, type AgentProc, type PeerClient } from '../helpers/agent-proc.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, sweepStaleLabs, type NsHost } from '../lab/netns.js';

// A host whose services started before the agent: listeners (IPv4 and
// dual-stack IPv6) and established connections exist when the agent starts.
// The start-up scan must make later accepts on those listeners carry the
// listener's process, and the old connections' closes must give final
// records on both ends, marked started_before_agent, with no made-up latency.

let lab: NetnsLab;
let client: NsHost;
let server: NsHost;
let agent: AgentProc | null = null;
const children: ChildProcess[] = [];
let tmp = '';
let ready = false;
const old: Record<string, { peer: PeerClient; local: { ip: string; port: number } }> = {};
const fresh: Record<string, { ip: string; port: number }> = {};
const HOLD_S = 12;

const canRun = (): boolean => process.getuid?.() === 0;
const labDocs = (): ConnectionDoc[] => agent!.docs.filter((d) => d.host.name === 'pre-client' || d.host.name === 'pre-server');
const finalBy = (dir: 'egress' | 'ingress', clientPort: number): ConnectionDoc | undefined =>
  agent!.docs.find((d) => d.connaudit.record_kind === 'final' && d.network.direction === dir && d.source.port === clientPort);
const dump = (): string => labDocs().map((d) => `${d.host.name} ${d.network.direction} ${d.source.ip}:${d.source.port} ${d.process?.name} ${d.connaudit.record_kind} ${d.connaudit.conn_state} pre=${d.connaudit.started_before_agent}`).join('\n');

beforeAll(async () => {
  if (!canRun()) return;
  sweepStaleLabs();
  ensureBuilt();
  lab = NetnsLab.create(2);
  [client, server] = lab.hosts as [NsHost, NsHost];

  // Services first...
  await Promise.all([
    startServer(server, 'pre-srv4', '10.200.0.2', 8101, 'echo', children),
    startServer(server, 'pre-srv6', '::', 8102, 'echo', children),
  ]);
  // ...and connections that are open when the agent comes up.
  for (const [name, addr, port, bytes] of [['old-cli4', server.ip4, 8101, 100], ['old-cli6', server.ip6, 8102, 300]] as const) {
    const peer = startClient(client, name, addr, port, 'hold', bytes, HOLD_S);
    children.push(peer.child);
    old[name] = { peer, local: await peer.local };
  }

  tmp = mkdtempSync(join(tmpdir(), 'ca-pre-'));
  const cfg = join(tmp, 'agent.yaml');
  writeFileSync(cfg, `host: pre-root
netns_hosts:
  ${client.path}: pre-client
  ${server.path}: pre-server
interim_interval_s: 600
sensor:
  only_netns: [${client.path}, ${server.path}]
`);
  agent = await startAgent(cfg);

  // New connections to the listeners that predate the agent.
  for (const [name, addr, port] of [['new-cli4', server.ip4, 8101], ['new-cli6', server.ip6, 8102]] as const) {
    const peer = startClient(client, name, addr, port, 'normal', 50);
    children.push(peer.child);
    fresh[name] = await peer.local;
    await peer.done;
  }
  await Promise.all(Object.values(old).map((o) => o.peer.done));
  const ports = [...Object.values(old).map((o) => o.local.port), ...Object.values(fresh).map((f) => f.port)];
  await waitFor('egress and ingress final records of every client', () => ports.every((p) => finalBy('egress', p) && finalBy('ingress', p)), 20_000, dump);
  agent.child.kill('SIGINT');
  ready = true;
}, 120_000);

afterAll(() => {
  if (agent && agent.child.exitCode === null) agent.child.kill('SIGKILL');
  for (const c of children) c.kill('SIGKILL');
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('sockets that exist before the agent starts', () => {
  it('the start-up scan reports the listeners and connections it found, all with an owner', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(ready).toBe(true);
    const scan = agent!.logs.find((l) => l.msg === 'start-up scan: sockets that predate the agent are tracked');
    expect(scan, agent!.stderr()).toBeDefined();
    // Two listeners, and each old connection has a socket on both ends.
    expect(scan!.listeners).toBeGreaterThanOrEqual(2);
    expect(scan!.connections).toBeGreaterThanOrEqual(4);
    expect(await agent!.exit).toBe(0);
  });

  it('accepts on a listener opened before the agent carry the listener process (IPv4 and IPv6)', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const in4 = finalBy('ingress', fresh['new-cli4']!.port)!;
    const in6 = finalBy('ingress', fresh['new-cli6']!.port)!;
    expect(in4).toMatchObject({ host: { name: 'pre-server' }, process: { name: 'pre-srv4' }, network: { type: 'ipv4' }, connaudit: { conn_state: 'SF' } });
    expect(in6).toMatchObject({ host: { name: 'pre-server' }, process: { name: 'pre-srv6' }, network: { type: 'ipv6' }, connaudit: { conn_state: 'SF' } });
    expect(in4.connaudit.started_before_agent).toBe(false);
    expect(in4.connaudit.connect_latency_ms).toBeGreaterThan(0);
  });

  it('connections open before the agent give final records on both ends, marked started_before_agent, latency null', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    for (const [name, srv, type, bytes] of [['old-cli4', 'pre-srv4', 'ipv4', 100], ['old-cli6', 'pre-srv6', 'ipv6', 300]] as const) {
      const port = old[name]!.local.port;
      const eg = finalBy('egress', port)!;
      const ing = finalBy('ingress', port)!;
      expect(eg, name).toMatchObject({
        host: { name: 'pre-client' }, process: { name }, network: { type, direction: 'egress' },
        source: { port, bytes }, destination: { bytes: 2000 },
        connaudit: { conn_state: 'SF', close_reason: 'fin', started_before_agent: true },
      });
      expect(ing, name).toMatchObject({
        host: { name: 'pre-server' }, process: { name: srv }, network: { type, direction: 'ingress' },
        source: { port, bytes }, destination: { bytes: 2000 },
        connaudit: { conn_state: 'SF', started_before_agent: true },
      });
      expect(eg.connaudit.connect_latency_ms).toBeUndefined();
      expect(ing.connaudit.connect_latency_ms).toBeUndefined();
      expect(eg.network.community_id).toBe(ing.network.community_id);
    }
  });

  it('every record in the lab carries a process, or says why not', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const docs = labDocs();
    expect(docs.length).toBeGreaterThanOrEqual(8);
    const withProcess = docs.filter((d) => d.process?.name);
    expect(withProcess.length / docs.length).toBeGreaterThanOrEqual(0.99);
    for (const d of docs) if (!d.process?.name) expect(d.connaudit.process_unknown_reason, dump()).toBeTruthy();
  });
});
