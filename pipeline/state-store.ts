import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Stage state (rule windows, new_terms baselines, SLO burn windows) on local
// disk, one file per consumer role. Written after a committed batch, so the
// state on disk never counts a record whose offset is not committed; a crash
// between commit and write loses at most the last interval of state, never a
// record. Written via rename, so a crash mid-write leaves the previous file.

export interface Snapshot {
  savedAt: string;
  group: string;
  /** Partitions this instance owned when the state was saved (diagnostics on restore). */
  partitions: Record<string, number[]>;
  stages: Record<string, unknown>;
}

export class StateStore {
  private lastWrite = 0;

  constructor(readonly dir: string, readonly role: string, private readonly minIntervalMs = 0) {}

  get file(): string {
    return join(this.dir, `${this.role}.state.json`);
  }

  load(): Snapshot | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as Snapshot;
    } catch (err) {
      throw new Error(`${this.file}: stage state is not valid JSON (${(err as Error).message}); move it away to start with empty state`);
    }
  }

  /** Writes unless the last write was less than the interval ago (force: always). */
  save(snap: Omit<Snapshot, 'savedAt'>, nowMs = Date.now(), force = false): boolean {
    if (!force && nowMs - this.lastWrite < this.minIntervalMs) return false;
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ savedAt: new Date(nowMs).toISOString(), ...snap }));
    renameSync(tmp, this.file);
    this.lastWrite = nowMs;
    return true;
  }
}
