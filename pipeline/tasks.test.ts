import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Snapshot, SnapshotLog } from './state-store.js';
import { InstanceState, PartitionTasks, taskKey } from './tasks.js';

// The per-partition state bookkeeping against an in-memory changelog: which
// state a batch runs on, where reading resumes, and when snapshots are written.

const log = pino({ level: 'silent' });

class MemoryLog implements SnapshotLog {
  readonly topic = 'g-state-changelog';
  readonly data = new Map<string, Snapshot>();
  writes: string[] = [];
  async get(key: string) {
    const s = this.data.get(key);
    return s ? (JSON.parse(JSON.stringify(s)) as Snapshot) : undefined;
  }
  async put(key: string, snap: Omit<Snapshot, 'savedAt' | 'instance'>) {
    const full = { ...snap, savedAt: 'now', instance: 'test' };
    this.data.set(key, JSON.parse(JSON.stringify(full)) as Snapshot);
    this.writes.push(`${key}@${snap.offset}`);
    return JSON.stringify(full).length;
  }
}

/** A counting stage: its state is the number of documents it saw. */
class Counter {
  readonly name = 'count';
  n = 0;
  disposed = false;
  snapshot() { return { n: this.n }; }
  restore(s: unknown) { this.n = (s as { n: number }).n; }
}

function setup(everyMs = 0) {
  const store = new MemoryLog();
  const built: Counter[] = [];
  const events = { restored: [] as string[], bytes: 0 };
  const tasks = new PartitionTasks<Counter, { errors: number; own: Counter[] }>({
    role: 'g', store, snapshotEveryMs: everyMs, log,
    build: () => {
      const c = new Counter();
      built.push(c);
      return { own: [c], dispose: () => { c.disposed = true; } };
    },
    combine: (own) => ({ errors: 0, own }),
    events: { restored: (k, found) => events.restored.push(`${k}:${found ? 'found' : 'empty'}`), snapshot: (_k, b) => { events.bytes += b; } },
  });
  /** Runs a batch of `n` messages from `first` the way the consumer does. */
  const batch = async (partition: number, first: number, n: number) => {
    const { set, resumeAt } = await tasks.prepare('conn', partition, String(first));
    if (resumeAt !== undefined && Number(resumeAt) < first) return { seekTo: Number(resumeAt), counter: set.own[0]! };
    const from = resumeAt !== undefined ? Number(resumeAt) : first;
    if (from > first) tasks.covered('conn', partition, String(from - 1));
    for (let o = from; o < first + n; o++) set.own[0]!.n++;
    if (from < first + n) await tasks.handled('conn', partition, String(first + n - 1));
    return { counter: set.own[0]! };
  };
  return { store, built, events, tasks, batch };
}

describe('PartitionTasks', () => {
  it('starts a partition empty when the changelog has nothing, and snapshots the first batch with its offset', async () => {
    const { store, tasks, batch, events } = setup(60_000);
    const r = await batch(0, 100, 5);
    expect(r.counter.n).toBe(5);
    expect(store.writes).toEqual([`${taskKey('conn', 0)}@104`]);
    expect(events.restored).toEqual(['conn:0:empty']);
    expect(events.bytes).toBeGreaterThan(0);
    // Within the interval: no write; the state goes on from 105.
    await batch(0, 105, 5);
    expect(store.writes).toHaveLength(1);
    expect(tasks.size).toBe(1);
  });

  it('a new owner restores the snapshot and re-reads what the snapshot did not cover (committed offset ahead of it)', async () => {
    const a = setup(60_000);
    await a.batch(3, 0, 10); // snapshot @9
    await a.batch(3, 10, 10); // throttled: committed 19, snapshot still @9
    expect(a.store.writes).toEqual(['conn:3@9']);
    const b = setup();
    for (const [k, v] of a.store.data) b.store.data.set(k, v);
    const first = await b.batch(3, 20, 5);
    expect(first.seekTo, 're-read from right after the snapshot').toBe(10);
    const again = await b.batch(3, 10, 15);
    expect(again.counter.n, '10 from the snapshot + 15 re-read: every message counted once').toBe(25);
    expect(b.events.restored).toEqual(['conn:3:found']);
  });

  it('skips messages the restored state already covers (snapshot ahead of the committed offset)', async () => {
    const a = setup();
    await a.batch(1, 0, 8); // snapshot @7, and suppose the commit of 8 never happened
    const b = setup();
    for (const [k, v] of a.store.data) b.store.data.set(k, v);
    const r = await b.batch(1, 5, 6); // redelivered from 5: 5..7 are in the state already
    expect(r.seekTo).toBeUndefined();
    expect(r.counter.n).toBe(8 + 3);
    expect(b.store.data.get('conn:1')!.offset).toBe('10');
  });

  it('drops the state of revoked partitions and of failed batches; a batch that does not continue the state restores it', async () => {
    const { tasks, batch, built, store } = setup(60_000);
    await batch(0, 0, 4);
    await batch(1, 0, 4);
    tasks.assigned({ conn: [1] });
    expect(built[0]!.disposed).toBe(true);
    expect(tasks.size).toBe(1);
    // Partition 1: stages ran on 4..7, then delivery failed -> state dropped, re-read from the snapshot (@3).
    await batch(1, 4, 4);
    tasks.failed('conn', 1);
    expect(built[1]!.disposed).toBe(true);
    const r = await batch(1, 4, 4);
    expect(r.counter.n, 'the failed batch is not counted twice').toBe(8);
    // Someone else moved partition 1 on to 20 meanwhile (snapshot @19): our state @7 is stale.
    store.data.set('conn:1', { offset: '19', stages: { count: { n: 100 } }, savedAt: 'x', instance: 'other' });
    const s = await batch(1, 20, 1);
    expect(s.counter.n).toBe(101);
  });

  it('flush writes only the states that changed since their last snapshot', async () => {
    const { tasks, batch, store } = setup(60_000);
    await batch(0, 0, 1);
    await batch(1, 0, 1);
    await batch(1, 1, 1);
    store.writes = [];
    await tasks.flush();
    expect(store.writes).toEqual(['conn:1@1']);
  });
});

describe('InstanceState', () => {
  it('restores the shared stages of this instance name and writes them throttled, or on flush', async () => {
    const store = new MemoryLog();
    const c = new Counter();
    c.n = 7;
    const s1 = new InstanceState({ store, instance: 'a', stages: [c], snapshotEveryMs: 60_000, log });
    await s1.handled(true);
    c.n = 9;
    await s1.handled();
    expect(store.writes).toEqual(['instance:a@null']);
    await s1.flush();
    expect(store.writes).toEqual(['instance:a@null', 'instance:a@null']);
    const fresh = new Counter();
    await new InstanceState({ store, instance: 'a', stages: [fresh], snapshotEveryMs: 0, log }).restore();
    expect(fresh.n).toBe(9);
    const other = new Counter();
    await new InstanceState({ store, instance: 'b', stages: [other], snapshotEveryMs: 0, log }).restore();
    expect(other.n).toBe(0);
  });
});
