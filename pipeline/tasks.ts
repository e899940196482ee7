import type { Logger } from '../lib/log.js';
import type { StageSet } from './stage-set.js';
import type { SnapshotLog } from './state-store.js';

// One "task" per input partition, as Kafka Streams runs them: the stages whose
// state is keyed by something that Kafka partitions on (rule windows: host on
// the connections topic, the re-key key on the rekey topic) get an instance
// of their own per partition, so their state can move with the partition.
// Stages that span the whole instance (shared: the SLO stage, test probes)
// run in every task's set but are persisted once per instance.
//
// The invariant that keeps state and offsets in agreement: a task knows the
// offset its state covers (`next`). A batch that does not start there (a
// rebalance gave the partition to someone else in between, a failed batch is
// re-read, the committed offset is ahead of a throttled snapshot) finds the
// task dropped and restored from the changelog, and reading resumes right
// after the snapshot's offset: messages the state already saw are skipped,
// messages it did not see are read again (re-indexing them is a no-op: op_type
// create; their alerts have deterministic ids).

export interface TaskStages<S> {
  /** This task's own stage instances (state persisted per partition). */
  own: S[];
  /** Called when the task is dropped (e.g. unregisters it from hot rule reload). */
  dispose(): void;
}

type Snapshottable = { name: string; snapshot?(): unknown; restore?(s: unknown): void };

interface Task<S, Set> {
  stages: TaskStages<S>;
  set: Set;
  /** Offset of the next message the state has not seen; undefined: any (fresh state, nothing in the changelog). */
  next?: bigint;
  lastSnapshotMs: number;
  dirty: boolean;
}

export interface TaskEvents {
  restored(key: string, fromChangelog: boolean): void;
  snapshot(key: string, bytes: number): void;
}

export interface PartitionTasksOptions<S, Set> {
  /** Which consumer role (log lines). */
  role: string;
  store: SnapshotLog;
  build(): TaskStages<S>;
  /** The set a batch runs through: shared stages first, then the task's own. */
  combine(own: S[]): Set;
  snapshotEveryMs: number;
  log: Logger;
  events?: TaskEvents;
}

export const taskKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export function snapshotStages(stages: Snapshottable[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of stages) if (s.snapshot) out[s.name] = s.snapshot();
  return out;
}

export function restoreStages(stages: Snapshottable[], state: Record<string, unknown>): string[] {
  const restored: string[] = [];
  for (const s of stages) {
    if (s.restore && state[s.name] !== undefined) {
      s.restore(state[s.name]);
      restored.push(s.name);
    }
  }
  return restored;
}

export class PartitionTasks<S extends Snapshottable, Set extends { errors: number }> {
  private readonly tasks = new Map<string, Task<S, Set>>();
  /** Stage errors of dropped tasks, so /metrics never counts down. */
  private droppedErrors = 0;

  constructor(private readonly o: PartitionTasksOptions<S, Set>) {}

  /**
   * The task for a batch starting at `firstOffset`, restored from the
   * changelog if needed, and the offset reading must resume at when it is not
   * `firstOffset` (undefined: go on with this batch as it is).
   */
  async prepare(topic: string, partition: number, firstOffset: string): Promise<{ set: Set; resumeAt?: string }> {
    const key = taskKey(topic, partition);
    const first = BigInt(firstOffset);
    const have = this.tasks.get(key);
    if (have && (have.next === undefined || have.next === first)) return { set: have.set };
    if (have) {
      this.o.log.info({ role: this.o.role, partition: key, stateCovers: have.next!.toString(), batchStarts: firstOffset }, 'batch does not continue the state in memory; restoring the partition state from the changelog');
      this.drop(key);
    }
    const snap = await this.o.store.get(key);
    const stages = this.o.build();
    // lastSnapshotMs 0: the first batch is always on record before its offsets are committed.
    const task: Task<S, Set> = { stages, set: this.o.combine(stages.own), lastSnapshotMs: 0, dirty: false };
    let restored: string[] = [];
    if (snap) {
      restored = restoreStages(stages.own, snap.stages);
      if (snap.offset !== null) task.next = BigInt(snap.offset) + 1n;
    }
    this.tasks.set(key, task);
    this.o.events?.restored(key, snap !== undefined);
    this.o.log.info({ role: this.o.role, partition: key, changelog: this.o.store.topic, snapshotOffset: snap?.offset ?? null, savedAt: snap?.savedAt, savedBy: snap?.instance, restored, batchStarts: firstOffset }, snap ? 'partition state restored from the changelog' : 'no state for this partition in the changelog; its windows start empty');
    return { set: task.set, resumeAt: task.next !== undefined && task.next !== first ? task.next.toString() : undefined };
  }

  /**
   * After a batch was handled (everything it produced acknowledged) and before
   * its offsets are committed: the state now covers `lastOffset`; its
   * snapshot is written when the last one is older than the interval (force:
   * always).
   */
  async handled(topic: string, partition: number, lastOffset: string, force = false): Promise<void> {
    const key = taskKey(topic, partition);
    const task = this.tasks.get(key);
    if (!task) return;
    task.next = BigInt(lastOffset) + 1n;
    task.dirty = true;
    if (force || Date.now() - task.lastSnapshotMs >= this.o.snapshotEveryMs) await this.write(key, task);
  }

  /** Skipped messages the state already covers: nothing to process, the offset moves on. */
  covered(topic: string, partition: number, lastOffset: string): void {
    const task = this.tasks.get(taskKey(topic, partition));
    if (task) task.next = BigInt(lastOffset) + 1n;
  }

  private async write(key: string, task: Task<S, Set>): Promise<void> {
    const bytes = await this.o.store.put(key, { offset: task.next === undefined ? null : (task.next - 1n).toString(), stages: snapshotStages(task.stages.own) });
    task.lastSnapshotMs = Date.now();
    task.dirty = false;
    this.o.events?.snapshot(key, bytes);
  }

  /** Writes every task's state that changed since its last snapshot (graceful stop). */
  async flush(): Promise<void> {
    for (const [key, task] of this.tasks) if (task.dirty) await this.write(key, task);
  }

  /** The group's new assignment: tasks of partitions this instance no longer owns are dropped. */
  assigned(assignment: Record<string, number[]>): void {
    const keep = new Set(Object.entries(assignment).flatMap(([t, ps]) => ps.map((p) => taskKey(t, p))));
    for (const key of [...this.tasks.keys()]) if (!keep.has(key)) this.drop(key);
  }

  /** A batch failed after its stages ran: the state has seen messages that will be read again. */
  failed(topic: string, partition: number): void {
    this.drop(taskKey(topic, partition));
  }

  private drop(key: string): void {
    const task = this.tasks.get(key);
    if (!task) return;
    this.droppedErrors += task.set.errors;
    task.stages.dispose();
    this.tasks.delete(key);
  }

  /** The set of a partition prepare() set up. */
  setFor(topic: string, partition: number): Set {
    const task = this.tasks.get(taskKey(topic, partition));
    if (!task) throw new Error(`no stage state prepared for ${taskKey(topic, partition)} (a batch ran without prepare())`);
    return task.set;
  }

  sets(): Set[] {
    return [...this.tasks.values()].map((t) => t.set);
  }

  /** Each task's own stage instances (without the shared stages its set also runs). */
  ownStages(): S[][] {
    return [...this.tasks.values()].map((t) => t.stages.own);
  }

  get errors(): number {
    return this.droppedErrors + this.sets().reduce((n, s) => n + s.errors, 0);
  }

  get size(): number {
    return this.tasks.size;
  }
}

/**
 * State of the stages that span the instance (the SLO stage): one changelog
 * key per instance (`instance:<name>`), written at the same pace as the
 * partitions' and restored when the instance starts under the same name.
 */
export class InstanceState {
  private lastMs = Date.now();
  private dirty = false;

  constructor(private readonly o: { store: SnapshotLog; instance: string; stages: Snapshottable[]; snapshotEveryMs: number; log: Logger; events?: TaskEvents }) {}

  get key(): string {
    return `instance:${this.o.instance}`;
  }

  private get persisted(): boolean {
    return this.o.stages.some((s) => s.snapshot);
  }

  async restore(): Promise<void> {
    if (!this.persisted) return;
    const snap = await this.o.store.get(this.key);
    this.o.events?.restored(this.key, snap !== undefined);
    if (!snap) return;
    const restored = restoreStages(this.o.stages, snap.stages);
    this.o.log.info({ changelog: this.o.store.topic, key: this.key, savedAt: snap.savedAt, restored }, 'instance stage state restored from the changelog');
  }

  async handled(force = false): Promise<void> {
    if (!this.persisted) return;
    this.dirty = true;
    if (force || Date.now() - this.lastMs >= this.o.snapshotEveryMs) await this.write();
  }

  async flush(): Promise<void> {
    if (this.dirty) await this.write();
  }

  private async write(): Promise<void> {
    const bytes = await this.o.store.put(this.key, { offset: null, stages: snapshotStages(this.o.stages) });
    this.lastMs = Date.now();
    this.dirty = false;
    this.o.events?.snapshot(this.key, bytes);
  }
}
