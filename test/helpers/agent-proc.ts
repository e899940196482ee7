import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { INSTALL_ROOT } from '../../lib/paths.js';
import type { NsHost } from '../lab/netns.js';
import { TCP_PEER } from '../lab/netns.js';

// The built CLI agent (`connaudit agent --output jsonl`) as a child process
// for the sensor integration tests: documents parsed from stdout, pino lines
// from stderr, and small helpers to run the lab's TCP peers.

export const CLI = join(INSTALL_ROOT, 'bin/connaudit.js');

export function ensureBuilt(): void {
  execFileSync('make', ['-C', join(INSTALL_ROOT, 'bpf')], { stdio: 'ignore' });
  const out = join(INSTALL_ROOT, 'dist/agent/run.js');
  const src = join(INSTALL_ROOT, 'agent/run.ts');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    try { execFileSync('npx', ['tsc', '-p', INSTALL_ROOT], { stdio: 'ignore', cwd: INSTALL_ROOT }); } catch { /* the run below proves it compiled */ }
  }
  if (!existsSync(out)) throw new Error('dist/agent/run.js is missing after tsc: run `npx tsc -p .` and read its errors');
}

export interface AgentProc {
  child: ChildProcess;
  docs: ConnectionDoc[];
  /** Parsed pino lines from stderr. */
  logs: Array<Record<string, unknown>>;
  exit: Promise<number | null>;
  stderr: () => string;
}

/** Starts the agent and resolves once it logged "sensor attached" (and the start-up scan, when enabled). */
/** `discardOutput`: documents go to /dev/null (a test that only needs the logs, and no slow reader on the pipe). */
export async function startAgent(configPath: string, extraArgs: string[] = [], timeoutMs = 30_000, discardOutput = false): Promise<AgentProc> {
  const child = spawn('node', [CLI, 'agent', '--output', 'jsonl', '--config', configPath, ...extraArgs], { stdio: ['ignore', discardOutput ? 'ignore' : 'pipe', 'pipe'] });
  const docs: ConnectionDoc[] = [];
  const logs: Array<Record<string, unknown>> = [];
  let err = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => { docs.push(JSON.parse(line) as ConnectionDoc); });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    err += `${line}\n`;
    try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not pino */ }
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent did not attach within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    const tick = setInterval(() => {
      if (logs.some((l) => l.msg === 'sensor attached')) { clearTimeout(t); clearInterval(tick); resolve(); }
    }, 50);
    child.once('exit', (code) => { clearTimeout(t); clearInterval(tick); reject(new Error(`agent exited with ${code} before attaching:\n${err}`)); });
  });
  return { child, docs, logs, exit, stderr: () => err };
}

export function startServer(host: NsHost, name: string, bind: string, port: number, mode: string, started: ChildProcess[]): Promise<void> {
  const p = host.spawn(['python3', TCP_PEER, 'serve', name, bind, String(port), mode]);
  started.push(p);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server ${name} did not print READY`)), 10_000);
    p.stdout!.once('data', () => { clearTimeout(t); resolve(); });
    p.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
  });
}

export interface PeerClient { child: ChildProcess; local: Promise<{ ip: string; port: number }>; done: Promise<string> }

/** A tcp-peer client; `local` resolves once it is connected, `done` with its whole output when it exits. */
export function startClient(host: NsHost, name: string, addr: string, port: number, mode: string, sendBytes = 1000, holdS = 0): PeerClient {
  const child = host.spawn(['python3', TCP_PEER, 'client', name, addr, String(port), mode, String(sendBytes), String(holdS)]);
  let out = '';
  let resolveLocal!: (v: { ip: string; port: number }) => void;
  let rejectLocal!: (e: Error) => void;
  const local = new Promise<{ ip: string; port: number }>((res, rej) => { resolveLocal = res; rejectLocal = rej; });
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    const m = /^LOCAL (\S+) (\d+)$/m.exec(out);
    if (m) resolveLocal({ ip: m[1]!, port: Number(m[2]) });
  });
  const done = new Promise<string>((resolve) => child.once('exit', () => { rejectLocal(new Error(`client ${name} exited before connecting: ${out}`)); resolve(out); }));
  return { child, local, done };
}

export async function waitFor(what: string, cond: () => boolean, ms = 20_000, detail: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail() ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
