import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOurs, livePid, stopPid, waitUntil } from './proc.js';

// Real processes (a `sleep` child) rather than fakes: pid files and /proc are
// the whole point of this module.

describe('pid files', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a live pid whose cmdline has the marker', () => {
    dir = mkdtempSync(join(tmpdir(), 'proc-'));
    const f = join(dir, 'x.pid');
    writeFileSync(f, `${process.pid}\n`);
    expect(livePid(f, 'node')).toBe(process.pid);
    expect(isOurs(process.pid, 'kafka.Kafka-not-this-process')).toBe(false);
  });

  it('removes a pid file whose process is someone else (pid reuse)', () => {
    dir = mkdtempSync(join(tmpdir(), 'proc-'));
    const f = join(dir, 'x.pid');
    writeFileSync(f, `${process.pid}\n`);
    expect(livePid(f, 'org.elasticsearch')).toBeUndefined();
    expect(existsSync(f)).toBe(false);
  });

  it('ignores garbage in a pid file', () => {
    dir = mkdtempSync(join(tmpdir(), 'proc-'));
    const f = join(dir, 'x.pid');
    writeFileSync(f, 'not a pid');
    expect(livePid(f, 'node')).toBeUndefined();
  });
});

describe('stopPid', () => {
  it('stops a process with SIGTERM', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    expect(isOurs(child.pid!, 'sleep')).toBe(true);
    expect(await stopPid(child.pid!, 'sleep', 5000)).toBe('stopped');
    expect(isOurs(child.pid!, 'sleep')).toBe(false);
  });

  it('kills a process that ignores SIGTERM once the timeout passes', async () => {
    const child = spawn('bash', ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((r) => child.stdout!.once('data', r));
    expect(await stopPid(child.pid!, 'trap', 600)).toBe('killed');
    expect(isOurs(child.pid!, 'trap')).toBe(false);
  });

  it('reports a process that is not there', async () => {
    expect(await stopPid(2 ** 22 + 12345, 'sleep', 100)).toBe('not-running');
  });
});

describe('waitUntil', () => {
  it('returns undefined as soon as the check passes', async () => {
    let n = 0;
    expect(await waitUntil(async () => ++n >= 3, { timeoutMs: 5000, intervalMs: 1 })).toBeUndefined();
    expect(n).toBe(3);
  });

  it('stops early with the abort reason', async () => {
    expect(await waitUntil(async () => false, { timeoutMs: 5000, intervalMs: 1, abort: () => 'the process exited' })).toBe('the process exited');
  });

  it('gives up after the timeout', async () => {
    expect(await waitUntil(async () => false, { timeoutMs: 30, intervalMs: 5 })).toBe('not ready after 0s');
  });
});
