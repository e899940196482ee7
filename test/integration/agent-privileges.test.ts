import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capEffOf, CAP_BPF, CAP_PERFMON } from '../../agent/privileges.js';
import { AGENT_METRICS } from '../../lib/names.js';
import { CLI, eventually } from '../helpers/cli.js';
import { skipUnless } from '../helpers/env.js';

// Least privilege on a running agent: once the programs are attached, every
// thread of the process runs as `nobody`, the sensor thread holds exactly
// CAP_BPF + CAP_PERFMON and every other thread nothing, and the agent still
// turns connections into records (the ring buffer and map walks keep working
// with those two). The same run serves /metrics and /healthz.

const KEEP = (1n << BigInt(CAP_BPF)) | (1n << BigInt(CAP_PERFMON));
const tmp = mkdtempSync(join(tmpdir(), 'agent-priv-it-'));
let agent: ChildProcess | null = null;
afterAll(() => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

function threads(pid: number): Array<{ tid: string; uid: string; capEff: bigint }> {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return { tid, uid: /^Uid:\s*(.*)$/m.exec(s)![1]!.trim(), capEff: capEffOf(s) };
  });
}

/** One TCP connection over loopback, closed at once: the agent's record to look for. */
async function oneConnection(): Promise<number> {
  const server = net.createServer((s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('data', () => c.end());
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('agent privilege drop (real sensor)', () => {
  it('runs as nobody with only CAP_BPF + CAP_PERFMON after attach, still records connections, and serves /metrics and /healthz', async (ctx) => {
    if (await skipUnless(ctx, 'bpf')) return;
    const cfg = join(tmp, 'agent.yaml');
    writeFileSync(cfg, 'host: it-priv\nfilters:\n  ignore_loopback: false\nmetrics:\n  port: 0\ninterim_interval_s: 3600\n');
    let stdout = '';
    let stderr = '';
    agent = spawn('node', [CLI, 'agent', '--output', 'jsonl', '--config', cfg, '--user', 'nobody', '--duration', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.on('data', (d: Buffer) => { stdout += String(d); });
    agent.stderr!.on('data', (d: Buffer) => { stderr += String(d); });
    const pid = agent.pid!;
    await eventually('the agent to attach', async () => (stderr.includes('sensor attached') ? true : undefined), 60_000);
    const metricsPort = Number(/"port":(\d+),"msg":"metrics and health listening/.exec(stderr)?.[1]);
    expect(metricsPort).toBeGreaterThan(0);

    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s*(.*)$/m.exec(status)![1]!.trim().split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    const all = threads(pid);
    // Every thread switched user; none holds a capability beyond the two; one (the sensor) holds exactly them.
    expect(all.filter((t) => t.uid.split(/\s+/)[0] !== '65534')).toEqual([]);
    expect(all.filter((t) => (t.capEff & ~KEEP) !== 0n).map((t) => `${t.tid}:${t.capEff.toString(16)}`)).toEqual([]);
    expect(all.filter((t) => t.capEff === KEEP)).toHaveLength(1);
    expect(capEffOf(status) & ~KEEP).toBe(0n);

    const port = await oneConnection();
    const doc = await eventually('the record of our connection', async () => stdout.split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as { destination?: { port?: number }; source?: { port?: number } })
      .find((d) => d.destination?.port === port || d.source?.port === port), 30_000);
    expect(doc).toBeDefined();

    const metrics = await eventually('records_read in /metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const m = new RegExp(`^${AGENT_METRICS.recordsRead}\\{[^}]*\\} (\\d+)$`, 'm').exec(text);
      return m && Number(m[1]) >= 1 ? text : undefined;
    }, 20_000);
    expect(metrics).toMatch(new RegExp(`^${AGENT_METRICS.kernelDrops}\\{[^}]*\\} 0$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^${AGENT_METRICS.untracked}\\{[^}]*reason="state_map_full"[^}]*\\} \\d+$`, 'm'));
    const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, detail: { attached: true } });

    agent.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => agent!.once('exit', (c) => r(c)));
    expect(code, stderr.slice(-2000)).toBe(0);
  }, 120_000);
});
