import type { AlertDoc } from '../lib/alert.js';
import type { Logger } from '../lib/log.js';
import type { StageInstances } from './compose.js';
import type { RoleOptions } from './consumer-role.js';
import type { PipelineMetrics } from './metrics.js';
import type { TickedSet } from './idle-ticker.js';
import type { StageStat } from './stage.js';
import type { ChangelogStore } from './state-store.js';
import { InstanceState, PartitionTasks } from './tasks.js';

// The stage state of one consumer role: per-partition tasks for the stages
// keyed by partition, the instance-wide state of the shared stages, both
// persisted in the group's changelog (state-store.ts), and the consumer hooks
// that keep them in step with the offsets (consumer-role.ts).

type Named = { name: string; snapshot?(): unknown; restore?(s: unknown): void };
type SetLike<S> = { errors: number; readonly stages: S[]; stats(): StageStat[] } & TickedSet;

export interface RoleStateOptions<S extends Named, Set extends SetLike<S>> {
  group: string;
  instance: string;
  store: ChangelogStore;
  /** Topics whose partitions carry keyed state (not the agent-health topic). */
  stateful: string[];
  shared: S[];
  /** Persisted with the shared stages, but not run on documents. */
  instanceOnly?: Named[];
  /** Absent: no per-partition stages; every batch runs through one set of the shared stages. */
  build?: () => StageInstances<S>;
  combine(stages: S[]): Set;
  snapshotEveryMs: number;
  metrics: PipelineMetrics;
  log: Logger;
}

export type RoleHooks = Pick<RoleOptions, 'prepare' | 'beforeCommit' | 'skipped' | 'failed' | 'assigned'>;

export class RoleState<S extends Named, Set extends SetLike<S>> {
  readonly instanceState: InstanceState;
  get store(): ChangelogStore {
    return this.o.store;
  }
  readonly tasks?: PartitionTasks<S, Set>;
  private readonly sharedSet: Set;
  /** Stage failures during idle ticks of the partitions' own stages. */
  private tickErrors = 0;

  constructor(private readonly o: RoleStateOptions<S, Set>) {
    const events = {
      restored: (_key: string, found: boolean) => o.metrics.stateRestores.inc({ group: o.group, outcome: found ? 'found' : 'empty' }),
      snapshot: (_key: string, bytes: number) => {
        o.metrics.stateSnapshots.inc({ group: o.group });
        o.metrics.stateSnapshotBytes.inc({ group: o.group }, bytes);
      },
    };
    this.sharedSet = o.combine(o.shared);
    this.instanceState = new InstanceState({ store: o.store, instance: o.instance, stages: [...o.shared, ...(o.instanceOnly ?? [])], snapshotEveryMs: o.snapshotEveryMs, log: o.log, events });
    if (o.build) {
      const build = o.build;
      this.tasks = new PartitionTasks<S, Set>({ role: o.group, store: o.store, build, combine: (own) => o.combine([...o.shared, ...own]), snapshotEveryMs: o.snapshotEveryMs, log: o.log, events });
    }
  }

  /** The stage set a batch of `topic`/`partition` runs through. */
  setFor(topic: string, partition: number): Set {
    return this.tasks && this.o.stateful.includes(topic) ? this.tasks.setFor(topic, partition) : this.sharedSet;
  }

  hooks(): RoleHooks {
    const tasks = this.tasks;
    const keyed = (topic: string) => tasks !== undefined && this.o.stateful.includes(topic);
    return {
      prepare: async (topic, partition, first) => (keyed(topic) ? (await tasks!.prepare(topic, partition, first)).resumeAt : undefined),
      beforeCommit: async (topic, partition, last) => {
        if (keyed(topic)) await tasks!.handled(topic, partition, last);
        await this.instanceState.handled();
      },
      skipped: (topic, partition, last) => { if (keyed(topic)) tasks!.covered(topic, partition, last); },
      failed: (topic, partition) => { if (keyed(topic)) tasks!.failed(topic, partition); },
      assigned: (assignment) => tasks?.assigned(assignment),
    };
  }

  /** After the consumer stopped fetching and before it leaves the group: everything changed goes on record. */
  async flush(): Promise<void> {
    await this.tasks?.flush();
    await this.instanceState.flush();
  }

  sets(): Set[] {
    return [this.sharedSet, ...(this.tasks?.sets() ?? [])];
  }

  /** Every stage instance: the shared ones, then each partition's own. */
  allStages(): S[] {
    return [...this.sharedSet.stages, ...(this.tasks?.ownStages().flat() ?? [])];
  }

  /**
   * What the idle ticker moves when event time passes without records: the
   * shared stages once (a partition's set also runs them, so ticking every
   * partition's set would tick the SLO stage once per partition), then each
   * partition's own stages. Failures count into this role's errors.
   */
  tickable(): TickedSet {
    const each = (f: (set: Set) => AlertDoc[]): AlertDoc[] => {
      const sets = [this.sharedSet, ...(this.tasks?.ownStages().map((own) => this.o.combine(own)) ?? [])];
      const out: AlertDoc[] = [];
      for (const [i, set] of sets.entries()) {
        const before = set.errors;
        out.push(...f(set));
        if (i > 0) this.tickErrors += set.errors - before;
      }
      return out;
    };
    return {
      tick: (ms) => each((set) => set.tick(ms)),
      advanceWatermark: (ms) => each((set) => set.advanceWatermark(ms)),
      annotate: (alerts) => { this.sharedSet.annotate(alerts); },
    };
  }

  get errors(): number {
    return this.sharedSet.errors + this.tickErrors + (this.tasks?.errors ?? 0);
  }

  /** Per-rule figures summed over the partitions' instances (a rule's mean time: the mean of theirs). */
  stats(): StageStat[] {
    const by = new Map<string, StageStat & { n: number }>();
    for (const st of this.tasks ? this.tasks.sets().flatMap((s) => s.stages.filter((x) => !this.o.shared.includes(x)).flatMap((x) => (x as { ruleStats?(): StageStat[] }).ruleStats?.() ?? [])) : []) {
      const k = `${st.stage}\u0000${st.rule}`;
      const have = by.get(k);
      if (!have) {
        by.set(k, { ...st, n: 1 });
        continue;
      }
      if (st.matches !== undefined) have.matches = (have.matches ?? 0) + st.matches;
      if (st.budgetOverruns !== undefined) have.budgetOverruns = (have.budgetOverruns ?? 0) + st.budgetOverruns;
      if (st.meanEvalSeconds !== undefined) have.meanEvalSeconds = ((have.meanEvalSeconds ?? 0) * have.n + st.meanEvalSeconds) / (have.n + 1);
      have.n++;
    }
    const shared = this.sharedSet.stats();
    return [...shared, ...[...by.values()].map(({ n: _n, ...s }) => s)];
  }
}
