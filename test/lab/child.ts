import { spawn, type ChildProcess } from 'node:child_process';
import { fromRoot, INSTALL_ROOT } from '../../lib/paths.js';

// Runs the `connaudit` CLI as a child process, as a user would, and waits on
// what it logs (pino JSON on stderr). The demo and the integration tests both
// orchestrate the real agent and pipeline processes with it.

export const ROOT = INSTALL_ROOT;
export const CLI = fromRoot('bin/connaudit.js');

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stderr (pino JSON lines) contains `needle`; rejects on exit or timeout. */
  waitForLog(needle: string | RegExp, ms?: number): Promise<void>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const matches = (needle: string | RegExp) => (typeof needle === 'string' ? err.includes(needle) : needle.test(err));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog(needle, ms = 60_000) {
      return new Promise((resolve, reject) => {
        if (matches(needle)) { resolve(); return; }
        const t = setTimeout(() => { cleanup(); reject(new Error(`connaudit ${args[0]} did not log ${String(needle)} within ${ms} ms; stderr tail:\n${err.slice(-3000)}`)); }, ms);
        const onData = () => { if (matches(needle)) { cleanup(); resolve(); } };
        const onExit = (code: number | null) => { cleanup(); reject(new Error(`connaudit ${args[0]} exited with ${code} before logging ${String(needle)}; stderr tail:\n${err.slice(-3000)}`)); };
        const cleanup = () => { clearTimeout(t); child.stderr!.off('data', onData); child.off('exit', onExit); };
        child.stderr!.on('data', onData);
        child.once('exit', onExit);
      });
    },
    async stop(signal = 'SIGTERM', ms = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}


/** Polls until `fn` returns a non-undefined value or the time is up. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000, everyMs = 500): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `; last error: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
