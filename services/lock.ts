import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { say } from './progress.js';
import { pidAlive } from '../lib/pid.js';

// Several people and test runs share one machine's services. Two `services
// up` at once would both find nothing running and both start a broker, so
// up/down hold an exclusive lock file (O_EXCL create, our pid inside). A lock
// whose owner is gone is stale and taken over.

export class LockBusyError extends Error {
  constructor(readonly file: string, readonly owner: number) {
    super(`another connaudit services command (pid ${owner}) still holds ${file}`);
    this.name = 'LockBusyError';
  }
}


function tryTake(file: string): boolean {
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

export async function withLock<T>(file: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  while (!tryTake(file)) {
    let owner = NaN;
    try { owner = Number(readFileSync(file, 'utf8').trim()); } catch { /* removed meanwhile: retry */ }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidAlive(owner)) {
      if (Date.now() > deadline) throw new LockBusyError(file, owner);
      if (!told) { say(`waiting for another connaudit services command (pid ${owner}) to finish…`); told = true; }
      await sleep(500);
    } else {
      rmSync(file, { force: true });
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
