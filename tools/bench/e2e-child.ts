import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fromRoot } from '../../lib/paths.js';
import { PIPELINE_METRICS } from '../../pipeline/metrics.js';

// The `connaudit pipeline` child of a `bench e2e` run: started under the
// run's name prefix, ready once its /healthz says so, stopped with SIGTERM,
// and measured from outside (/proc CPU and peak RSS, its /metrics).

const CLK_TCK = 100;

/** utime + stime of a process, seconds (Linux). */
export function processCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export function processRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

export const selfCpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export interface Child {
  proc: ChildProcess;
  stderr: () => string;
  /** The child's /healthz and /metrics, from its 'listener ready' log line. */
  urls: { healthz?: string; metrics?: string };
  exited: Promise<number | null>;
}

export function startPipeline(prefix: string, configFile: string, logFile: string, o: { maxBatch?: number; cpuProfDir?: string; env?: NodeJS.ProcessEnv }): Child {
  const args = [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), fromRoot('bin/connaudit.js'), 'pipeline', '--config', configFile, '--metrics-port', '0'];
  if (o.maxBatch) args.push('--max-batch', String(o.maxBatch));
  const proc = spawn(process.execPath, args, { cwd: fromRoot(), env: { ...process.env, ...o.env, CONNAUDIT_NAME_PREFIX: prefix }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const urls: Child['urls'] = {};
  const logOut = createWriteStream(logFile);
  proc.stderr!.on('data', (b: Buffer) => {
    logOut.write(b);
    err += b.toString();
    // Noted once: at debug level the log soon outgrows the tail kept below.
    urls.healthz ??= /"healthz":"(http:[^"]+)"/.exec(err)?.[1];
    urls.metrics ??= /"metrics":"(http:[^"]+)"/.exec(err)?.[1];
    // Only the tail is needed (the listener line, the last totals, errors).
    if (err.length > 2_000_000) err = err.slice(-1_000_000);
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => { logOut.end(); r(code); }));
  return { proc, stderr: () => err, urls, exited };
}

/** Waits until the child's /healthz says both clusters answered and its consumers joined. */
export async function waitReady(child: Child, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let url: string | undefined;
  while (Date.now() < end) {
    if (child.proc.exitCode !== null) throw new Error(`the pipeline child exited with ${child.proc.exitCode} before it was ready:\n${child.stderr().slice(-3000)}`);
    url ??= child.urls.healthz;
    if (url) {
      const ok = await fetch(url).then((r) => r.ok, () => false);
      if (ok) return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the pipeline child was not ready within ${timeoutMs / 1000} s:\n${child.stderr().slice(-3000)}`);
}

export async function stopPipeline(child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const t = setTimeout(() => child.proc.kill('SIGKILL'), 30_000);
  await child.exited;
  clearTimeout(t);
}

/** The child's bulk request histogram (sum of seconds, count) from its /metrics. */
export async function scrapeBulk(child: Child): Promise<{ sum: number; count: number }> {
  const url = child.urls.metrics;
  const text = url ? await fetch(url).then((r) => r.text(), () => '') : '';
  const pick = (suffix: string) => {
    let n = 0;
    for (const m of text.matchAll(new RegExp(`^${PIPELINE_METRICS.bulkSeconds}_${suffix}\\{[^}]*\\} ([0-9.e+-]+)$`, 'gm'))) n += Number(m[1]);
    return n;
  };
  return { sum: pick('sum'), count: pick('count') };
}
