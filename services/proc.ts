import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// Process bookkeeping for services that outlive the CLI. A pid file alone can
// lie (the process died and the pid was reused), so a pid only counts when
// its /proc cmdline still contains the service's marker (its main class).

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}

/** Alive and still the program we started (not a zombie, not a reused pid). */
export function isOurs(pid: number, marker: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised comm) is the state; Z is a zombie.
    if (/\)\s+Z\s/.test(stat)) return false;
  } catch {
    return false;
  }
  return cmdline(pid)?.includes(marker) ?? false;
}

/** The pid from a pid file if it is alive and ours; removes a stale pid file. */
export function livePid(pidFile: string, marker: string): number | undefined {
  const pid = readPid(pidFile);
  if (pid === undefined) return undefined;
  if (isOurs(pid, marker)) return pid;
  rmSync(pidFile, { force: true });
  return undefined;
}

export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

/**
 * Polls `check` until it returns true, `abort` returns a reason, or the
 * deadline passes. Returns undefined on success, else why it stopped.
 */
export async function waitUntil(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<string | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const why = opts.abort?.();
    if (why) return why;
    if (await check()) return undefined;
    if (Date.now() >= deadline) return `not ready after ${Math.round(opts.timeoutMs / 1000)}s`;
    await sleep(opts.intervalMs ?? 500);
  }
}

/**
 * SIGTERM, wait for a clean shutdown (Kafka and Elasticsearch both flush and
 * close their logs on SIGTERM), then SIGKILL after the timeout.
 * Returns how it ended.
 */
export async function stopPid(pid: number, marker: string, timeoutMs: number): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isOurs(pid, marker)) return 'not-running';
  try { process.kill(pid, 'SIGTERM'); } catch { return 'not-running'; }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isOurs(pid, marker)) return 'stopped';
    await sleep(250);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { return 'stopped'; }
  for (let i = 0; i < 40 && isOurs(pid, marker); i++) await sleep(250);
  return 'killed';
}
