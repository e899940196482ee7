import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { communityId } from '../../lib/community-id.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { fromRoot } from '../../lib/paths.js';
import { ensureBuilt, startAgent, waitFor, type AgentProc } from '../helpers/agent-proc.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, sweepStaleLabs, type NsHost } from '../lab/netns.js';

// The real sensor against real UDP between two namespace "hosts": one flow
// per socket and peer, from the datagrams themselves, with the process that
// sent (or received) them. Read from `connaudit agent --output jsonl` as
// root. The agent watches only the lab's namespaces (sensor.only_netns), so
// the flow arithmetic below is not disturbed by other traffic on the machine.

const UDP_PEER = fromRoot('test/lab/udp-peer.py');
const IDLE_S = 3;
const SPREAD = 50;

interface Client { name: string; local: { ip: string; port: number }; sent: number; received: number; receivedBytes: number; addr: string; port: number }

let lab: NetnsLab;
let client: NsHost;
let server: NsHost;
let tmp = '';
let agent: AgentProc | null = null;
const children: ChildProcess[] = [];
const clients = new Map<string, Client>();
let ready = false;

function config(name: string, extra: string): string {
  const p = join(tmp, `${name}.yaml`);
  writeFileSync(p, `host: udp-root
netns_hosts:
  ${client.path}: udp-client
  ${server.path}: udp-server
interim_interval_s: 2
health_interval_s: 1
sensor:
  only_netns: [${client.path}, ${server.path}]
  udp_idle_timeout_s: ${IDLE_S}
${extra}`);
  return p;
}

function serve(name: string, bind: string, port: number): Promise<void> {
  const p = server.spawn(['python3', UDP_PEER, 'serve', name, bind, String(port)]);
  children.push(p);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`udp server ${name} did not print READY`)), 10_000);
    p.stdout!.once('data', () => { clearTimeout(t); resolve(); });
    p.once('exit', (code) => reject(new Error(`udp server ${name} exited with ${code}`)));
  });
}

function run(name: string, addr: string, port: number, mode: string, count: number, size: number, holdS = 0): Promise<Client> {
  const p = client.spawn(['python3', UDP_PEER, 'client', name, addr, String(port), mode, String(count), String(size), String(holdS)]);
  children.push(p);
  let out = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  return new Promise((resolve, reject) => {
    p.once('exit', (code) => {
      const local = /^LOCAL (\S+) (\d+)$/m.exec(out);
      const sent = /^SENT (\d+)$/m.exec(out);
      const got = /^RECEIVED (\d+) (\d+)$/m.exec(out);
      if (code !== 0 || !local || !sent || !got) { reject(new Error(`udp client ${name} exited with ${code}: ${out}`)); return; }
      const c: Client = { name, local: { ip: local[1]!, port: Number(local[2]) }, sent: Number(sent[1]), received: Number(got[1]), receivedBytes: Number(got[2]), addr, port };
      clients.set(name, c);
      resolve(c);
    });
  });
}

const ours = (a: AgentProc): ConnectionDoc[] => a.docs.filter((d) => d.network.transport === 'udp' && (d.host.name === 'udp-client' || d.host.name === 'udp-server'));
const finals = (a: AgentProc): ConnectionDoc[] => ours(a).filter((d) => d.connaudit.record_kind === 'final');
const egressOf = (name: string): ConnectionDoc[] => finals(agent!).filter((d) => d.process?.name === name && d.network.direction === 'egress');
/** The server's record of a client's flow, found by the client's port. */
const ingressOf = (name: string): ConnectionDoc | undefined => {
  const c = clients.get(name);
  return finals(agent!).find((d) => d.host.name === 'udp-server' && d.network.direction === 'ingress' && d.source.port === c?.local.port);
};
const summary = (a: AgentProc): string => ours(a).map((d) => `${d.host.name} ${d.process?.name} ${d.network.direction} ${d.connaudit.record_kind} ${d.connaudit.conn_state} ${d.connaudit.close_reason} ${d.source.port}->${d.destination.port}`).join('\n');

const lastHealth = (a: AgentProc): Record<string, number> & { ringbufDrops: number } => {
  const h = a.logs.filter((l) => l.msg === 'agent health').at(-1)?.health as Record<string, number | number[]> | undefined;
  if (!h) throw new Error(`no agent health line; stderr:\n${a.stderr()}`);
  return { ...(h as Record<string, number>), ringbufDrops: (h.ringbufDropsPerCpu as number[]).reduce((x, y) => x + y, 0) };
};

// Flows the clients below make, each of which must end in exactly one final record:
// client side 1 sf + 1 s0 + 1 idle + 1 v6 + 1 trickle + SPREAD, server side the
// four that reached the echo server (sf, idle, v6, trickle).
const EXPECTED_FLOWS = 5 + SPREAD + 4;

beforeAll(async () => {
  if (process.getuid?.() !== 0) return;
  sweepStaleLabs();
  ensureBuilt();
  lab = NetnsLab.create(2);
  [client, server] = lab.hosts as [NsHost, NsHost];
  tmp = mkdtempSync(join(tmpdir(), 'ca-udp-'));
  agent = await startAgent(config('main', ''));
  // '::' is dual-stack: IPv4 peers reach it as v4-mapped, which must come out as IPv4.
  await serve('usrv-echo', '::', 9001);
  const s4 = server.ip4;
  await Promise.all([
    run('ucli-sf', s4, 9001, 'sendto', 3, 100),
    run('ucli-s0', s4, 9002, 'sendto', 2, 50),
    run('ucli-idle', s4, 9001, 'sendto', 1, 10, IDLE_S + 4),
    run('ucli-v6', server.ip6, 9001, 'connect', 2, 20),
    run('ucli-trickle', s4, 9001, 'trickle', 8, 30),
    run('ucli-spread', s4, 9100, 'spread', SPREAD, 1),
  ]);
  // The echo server's socket stays open: its flows end by the idle timeout.
  await waitFor(`${EXPECTED_FLOWS} final UDP records`, () => finals(agent!).length >= EXPECTED_FLOWS, 30_000, () => summary(agent!));
  await new Promise((r) => setTimeout(r, 1500)); // anything extra (a duplicate) would show up by now
  agent.child.kill('SIGTERM');
  expect(await agent.exit).toBe(0);
  ready = true;
}, 120_000);

afterAll(() => {
  if (agent && agent.child.exitCode === null) agent.child.kill('SIGKILL');
  for (const c of children) c.kill('SIGKILL');
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('UDP flows from the eBPF sensor in network-namespace hosts', () => {
  it('echo exchange: one SF flow with the client process, payload bytes and packets both ways, released at close', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    expect(ready).toBe(true);
    const c = clients.get('ucli-sf')!;
    expect(c).toMatchObject({ sent: 3, received: 3, receivedBytes: 300 });
    const recs = egressOf('ucli-sf');
    expect(recs, summary(agent!)).toHaveLength(1);
    const d = recs[0]!;
    expect(d).toMatchObject({
      host: { name: 'udp-client' },
      network: { transport: 'udp', iana_number: '17', direction: 'egress', type: 'ipv4' },
      source: { ip: '10.200.0.1', port: c.local.port, bytes: 300, packets: 3 },
      destination: { ip: '10.200.0.2', port: 9001, bytes: 300, packets: 3 },
      connaudit: { conn_state: 'SF', close_reason: 'released', netns: client.inode },
      process: { name: 'ucli-sf' },
    });
    expect(d.process?.pid).toBeGreaterThan(0);
    expect(d.network.community_id).toBe(communityId({ proto: 17, saddr: '10.200.0.1', daddr: c.addr, sport: c.local.port, dport: 9001 }));
    expect(d.connaudit.connect_latency_ms).toBeUndefined();
  });

  it('the server side: an ingress SF flow owned by the receiving process, same community_id, closed by the idle timeout', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const ing = ingressOf('ucli-sf');
    expect(ing, summary(agent!)).toBeDefined();
    expect(ing).toMatchObject({
      host: { name: 'udp-server' },
      process: { name: 'usrv-echo' },
      network: { transport: 'udp', direction: 'ingress', type: 'ipv4' },
      source: { ip: '10.200.0.1', port: clients.get('ucli-sf')!.local.port, bytes: 300, packets: 3 },
      destination: { ip: '10.200.0.2', port: 9001, bytes: 300, packets: 3 },
      connaudit: { conn_state: 'SF', close_reason: 'idle' },
    });
    expect(ing!.network.community_id).toBe(egressOf('ucli-sf')[0]!.network.community_id);
  });

  it('a send to a silent port: S0, our bytes and packets only', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const recs = egressOf('ucli-s0');
    expect(recs, summary(agent!)).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      source: { bytes: 100, packets: 2 }, destination: { port: 9002, bytes: 0, packets: 0 },
      connaudit: { conn_state: 'S0', close_reason: 'released' }, event: { outcome: 'unknown' },
    });
  });

  it('a flow idle past the timeout: one final record (idle), and no second one when its socket closes later', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const recs = egressOf('ucli-idle');
    expect(recs, summary(agent!)).toHaveLength(1);
    expect(recs[0]).toMatchObject({ source: { bytes: 10, packets: 1 }, destination: { bytes: 10, packets: 1 }, connaudit: { conn_state: 'SF', close_reason: 'idle' } });
    // The record ends at the last datagram, not when the walk noticed the silence.
    expect(recs[0]!.event.duration).toBeLessThan(1e9);
  });

  it('IPv6 on a connected socket to a dual-stack server: SF, network.type ipv6', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const recs = egressOf('ucli-v6');
    expect(recs, summary(agent!)).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      network: { type: 'ipv6', transport: 'udp' }, source: { ip: 'fd00:200::1', bytes: 40, packets: 2 },
      destination: { ip: 'fd00:200::2', port: 9001, bytes: 40, packets: 2 }, connaudit: { conn_state: 'SF', close_reason: 'released' },
    });
    expect(ingressOf('ucli-v6')).toMatchObject({ process: { name: 'usrv-echo' }, network: { type: 'ipv6' }, connaudit: { conn_state: 'SF' } });
  });

  it('a flow longer than the interim interval: interim records (open) with the final\'s 5-tuple, then the final', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const fin = egressOf('ucli-trickle');
    expect(fin, summary(agent!)).toHaveLength(1);
    expect(fin[0]).toMatchObject({ source: { bytes: 240, packets: 8 }, destination: { bytes: 240, packets: 8 }, connaudit: { conn_state: 'SF', close_reason: 'released' } });
    const interim = ours(agent!).filter((d) => d.connaudit.conn_uid === fin[0]!.connaudit.conn_uid && d.connaudit.record_kind === 'interim');
    expect(interim.length).toBeGreaterThan(0);
    for (const i of interim) {
      expect(i.connaudit.close_reason).toBe('open');
      expect(i.network.community_id).toBe(fin[0]!.network.community_id);
      expect(i.source.packets!).toBeLessThanOrEqual(8);
    }
  });

  it('one socket sending to many peers: one S0 flow per peer, all released when it closes', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const recs = egressOf('ucli-spread');
    expect(recs.map((d) => d.destination.port).sort((a, b) => a - b)).toEqual(Array.from({ length: SPREAD }, (_, i) => 9100 + i));
    for (const d of recs) expect(d.connaudit).toMatchObject({ conn_state: 'S0', close_reason: 'released' });
    expect(new Set(recs.map((d) => d.connaudit.conn_uid)).size).toBe(SPREAD);
  });

  it('accounting: every flow made ends in exactly one final record, nothing counted as lost', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const f = finals(agent!);
    expect(f.length, summary(agent!)).toBe(EXPECTED_FLOWS);
    expect(new Set(f.map((d) => d.connaudit.conn_uid)).size).toBe(EXPECTED_FLOWS);
    const h = lastHealth(agent!);
    expect(h.ringbufDrops + h.untrackedMapFull! + h.untrackedNomem! + h.untrackedOther! + h.sampledOut!, JSON.stringify(h)).toBe(0);
  });
});

describe('UDP flows over the rate limit', () => {
  it('records + sampled_out == flows made', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const flows = 200;
    const a = await startAgent(config('limited', 'rate_limit:\n  per_cpu_per_sec: 5\n  burst: 5\n'));
    try {
      await run('ucli-burst', server.ip4, 20000, 'spread', flows, 1);
      let last = -1;
      await waitFor('records to stop arriving', () => { const n = finals(a).length; const still = n === last && n > 0; last = n; return still; }, 20_000);
      await new Promise((r) => setTimeout(r, 1500)); // one more health tick after the last record
      a.child.kill('SIGTERM');
      expect(await a.exit).toBe(0);
      const h = lastHealth(a);
      const records = finals(a).filter((d) => d.process?.name === 'ucli-burst').length;
      const detail = JSON.stringify({ records, health: h });
      process.stderr.write(`rate-limited UDP: flows ${flows} ${detail}\n`);
      expect(h.sampledOut, detail).toBeGreaterThan(0);
      expect(records, detail).toBeGreaterThan(0);
      expect(records + h.sampledOut! + h.untrackedMapFull! + h.untrackedNomem! + h.untrackedOther! + h.ringbufDrops, detail).toBe(flows);
    } finally {
      if (a.child.exitCode === null) a.child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('UDP flows and the agent lifecycle and filters', () => {
  it('a flow still open when the agent stops gets an interim (open) record instead of vanishing', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const a = await startAgent(config('stop', ''));
    try {
      const held = run('ucli-open', server.ip4, 9001, 'sendto', 2, 25, 30);
      await new Promise((r) => setTimeout(r, 2000)); // sent and echoed; the socket stays open for 30 s
      a.child.kill('SIGTERM');
      expect(await a.exit).toBe(0);
      const recs = ours(a).filter((d) => d.process?.name === 'ucli-open');
      expect(recs, summary(a)).toHaveLength(1);
      expect(recs[0]).toMatchObject({ connaudit: { record_kind: 'interim', close_reason: 'open', conn_state: 'SF' }, source: { bytes: 50, packets: 2 }, destination: { bytes: 50, packets: 2 } });
      // The server's side of it was open too.
      expect(ours(a).filter((d) => d.host.name === 'udp-server' && d.process?.name === 'usrv-echo').map((d) => d.connaudit.record_kind)).toEqual(['interim']);
      for (const c of children) if (c.exitCode === null && c.spawnargs.includes('ucli-open')) c.kill('SIGKILL');
      await held.catch(() => undefined);
    } finally {
      if (a.child.exitCode === null) a.child.kill('SIGKILL');
    }
  }, 60_000);

  it('the kernel filters apply to UDP: an ignored port leaves no record, the rest are recorded', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns')) return;
    const a = await startAgent(config('filtered', 'filters:\n  ignore_ports: [9400]\n'));
    try {
      await run('ucli-filter', server.ip4, 9400, 'spread', 5, 1);
      await waitFor('the four unfiltered flows', () => finals(a).filter((d) => d.process?.name === 'ucli-filter').length >= 4, 15_000, () => summary(a));
      a.child.kill('SIGTERM');
      expect(await a.exit).toBe(0);
      const ports = finals(a).filter((d) => d.process?.name === 'ucli-filter').map((d) => d.destination.port).sort((x, y) => x - y);
      expect(ports).toEqual([9401, 9402, 9403, 9404]);
      expect(lastHealth(a).filtered).toBeGreaterThan(0);
    } finally {
      if (a.child.exitCode === null) a.child.kill('SIGKILL');
    }
  }, 60_000);
});
