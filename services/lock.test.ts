import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withLock } from './lock.js';

describe('withLock', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs one holder at a time', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lock-'));
    const f = join(dir, 'up.lock');
    const order: string[] = [];
    // Both calls come from this process, so mark the first one's lock as held by a live other process.
    const holder = spawn('sleep', ['5'], { stdio: 'ignore' });
    writeFileSync(f, `${holder.pid}\n`);
    setTimeout(() => { order.push('other released'); rmSync(f); holder.kill(); }, 300);
    await withLock(f, 5000, async () => { order.push('we ran'); });
    expect(order).toEqual(['other released', 'we ran']);
    expect(existsSync(f)).toBe(false);
  });

  it('takes over a stale lock whose owner is gone, and releases on error', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lock-'));
    const f = join(dir, 'up.lock');
    writeFileSync(f, `${2 ** 22 + 4321}\n`);
    await expect(withLock(f, 1000, async () => {
      expect(readFileSync(f, 'utf8').trim()).toBe(String(process.pid));
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(existsSync(f)).toBe(false);
  });

  it('gives up after the timeout while a live owner holds it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lock-'));
    const f = join(dir, 'up.lock');
    const holder = spawn('sleep', ['5'], { stdio: 'ignore' });
    writeFileSync(f, `${holder.pid}\n`);
    try {
      await expect(withLock(f, 200, async () => 1)).rejects.toThrow(`pid ${holder.pid}`);
    } finally {
      holder.kill();
    }
  });
});
