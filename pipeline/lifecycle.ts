import type { Client } from '@elastic/elasticsearch';
import type { Logger } from '../lib/log.js';

// Index lifecycle: every write alias (connaudit-connections, -alerts, -slo,
// -agent-health) rolls over to a new backing index by age and size, and
// backing indices older than the retention are deleted, so the indices stop
// growing until the disk is full.
//
// Two ways, picked by what the cluster can do (detectCapabilities):
//  - ILM (a full Elasticsearch): one policy with a hot-phase rollover and a
//    delete phase, attached to the index templates and to the current write
//    indices (index.lifecycle.name + rollover_alias). Elasticsearch then does
//    the work, also while no pipeline runs.
//  - local (the integ-test-zip, which has no ILM module): the pipeline asks
//    `_rollover` with the same conditions (evaluated by the server, which the
//    zip does have) and deletes indices past retention itself, on a timer.
//
// Why write aliases with ILM rather than data streams: a data stream accepts
// only op_type create, while the bulk sink writes op_type index with a
// deterministic _id, so that a redelivered record overwrites its own document
// (pipeline/es-sink.ts). With create, a redelivery would be a 409 at best; the
// alias keeps that guarantee and gets the same rollover and retention.
// detectCapabilities still reports data-stream support for `status` output.

export interface LifecycleSettings {
  /** Roll over when the write index is this old (Elasticsearch time unit, e.g. 1d). */
  max_age: string;
  /** ... or when its primary shard is this large (Elasticsearch byte unit, e.g. 25gb). */
  max_primary_shard_size: string;
  /** Delete a backing index this long after it stopped being written (e.g. 30d). */
  retention: string;
  /** How often the local mode checks (ignored with ILM). */
  check_interval: string;
}

export const DEFAULT_LIFECYCLE: LifecycleSettings = { max_age: '1d', max_primary_shard_size: '25gb', retention: '30d', check_interval: '5m' };

/** The one ILM policy name; every connaudit index template points at it. */
export const ILM_POLICY = 'connaudit';

const TIME_UNITS: Record<string, number> = { nanos: 1e-6, micros: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An Elasticsearch time value (30d, 12h, 90m, 500ms) in milliseconds; throws naming the setting. */
export function parseDuration(value: string, setting = 'duration'): number {
  const m = /^(\d+)(nanos|micros|ms|s|m|h|d)$/.exec(value.trim());
  if (!m) throw new Error(`lifecycle.${setting}: '${value}' is not a duration; use a number and one of d, h, m, s, ms (e.g. 30d)`);
  return Number(m[1]) * TIME_UNITS[m[2]!]!;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4, pb: 1024 ** 5 };

/** An Elasticsearch byte size (25gb, 512mb) in bytes; throws naming the setting. */
export function parseByteSize(value: string, setting = 'size'): number {
  const m = /^(\d+)(b|kb|mb|gb|tb|pb)$/i.exec(value.trim());
  if (!m) throw new Error(`lifecycle.${setting}: '${value}' is not a size; use a number and one of b, kb, mb, gb, tb (e.g. 25gb)`);
  return Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!;
}

/** Defaults filled in and every value checked, so a typo fails at start-up and not at the first rollover. */
export function lifecycleSettings(partial: Partial<LifecycleSettings> = {}): LifecycleSettings {
  const s = { ...DEFAULT_LIFECYCLE, ...partial };
  parseDuration(s.max_age, 'max_age');
  parseByteSize(s.max_primary_shard_size, 'max_primary_shard_size');
  parseDuration(s.retention, 'retention');
  if (parseDuration(s.check_interval, 'check_interval') < 1000) throw new Error(`lifecycle.check_interval: '${s.check_interval}' is below 1s; use e.g. 5m`);
  return s;
}

export interface Capabilities {
  ilm: boolean;
  dataStreams: boolean;
}

const statusOf = (err: unknown): number | undefined => (err as { meta?: { statusCode?: number } }).meta?.statusCode;

/**
 * What the cluster supports, by asking the APIs themselves: a distribution
 * without the module answers 405 (no handler) or 400, a full one 200. Other
 * failures (401, 5xx, network) are real errors and are thrown.
 */
export async function detectCapabilities(client: Client): Promise<Capabilities> {
  const probe = async (call: () => Promise<unknown>): Promise<boolean> => {
    try {
      await call();
      return true;
    } catch (err) {
      const code = statusOf(err);
      if (code === 405 || code === 400 || code === 404) return false;
      throw err;
    }
  };
  const [ilm, dataStreams] = await Promise.all([
    probe(() => client.ilm.getStatus()),
    probe(() => client.indices.getDataStream({ name: 'connaudit-capability-probe-*' })),
  ]);
  return { ilm, dataStreams };
}

/** The ILM policy: hot phase rolls over by age and size, delete phase removes an index `retention` after its rollover. */
export function ilmPolicyBody(s: LifecycleSettings) {
  return {
    _meta: { managed_by: 'connaudit pipeline', description: 'rollover by age and primary shard size; delete after retention' },
    phases: {
      hot: { min_age: '0ms', actions: { rollover: { max_age: s.max_age, max_primary_shard_size: s.max_primary_shard_size } } },
      delete: { min_age: s.retention, actions: { delete: {} } },
    },
  };
}

/** The index settings that attach a write alias's indices to the policy. */
export const ilmIndexSettings = (alias: string) => ({ 'index.lifecycle.name': ILM_POLICY, 'index.lifecycle.rollover_alias': alias });

/** PUTs the policy (idempotent: same body, same result). */
export async function installIlmPolicy(client: Client, s: LifecycleSettings): Promise<void> {
  await client.ilm.putLifecycle({ name: ILM_POLICY, policy: ilmPolicyBody(s) as never });
}

export interface LocalRunResult {
  alias: string;
  rolledOver?: { from: string; to: string; conditions: Record<string, boolean> };
  deleted: string[];
}

interface IndexInfo {
  name: string;
  createdMs: number;
  isWrite: boolean;
}

async function backingIndices(client: Client, alias: string): Promise<IndexInfo[]> {
  const res = await client.indices.get({ index: `${alias}-*`, filter_path: ['*.settings.index.creation_date', '*.aliases'], expand_wildcards: 'open' });
  return Object.entries(res as Record<string, { settings?: { index?: { creation_date?: string } }; aliases?: Record<string, { is_write_index?: boolean }> }>)
    // Only this alias's own generations (alias-000001 ...), never a look-alike such as alias-test-000001.
    .filter(([name]) => new RegExp(`^${alias.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{6,}$`).test(name))
    .map(([name, v]) => ({ name, createdMs: Number(v.settings?.index?.creation_date ?? 0), isWrite: v.aliases?.[alias]?.is_write_index === true }))
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

/**
 * Which backing indices are past retention at `now`. An index stops being
 * written when the next generation is created, so its age for retention
 * counts from that moment (as ILM's delete phase counts from rollover). The
 * write index and the newest generation are never candidates.
 */
export function expiredIndices(indices: IndexInfo[], retentionMs: number, now: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < indices.length - 1; i++) {
    const idx = indices[i]!;
    const rolledAt = indices[i + 1]!.createdMs;
    if (idx.isWrite || !rolledAt) continue;
    if (now - rolledAt >= retentionMs) out.push(idx.name);
  }
  return out;
}

/** One local pass over one alias: conditional rollover, then retention. */
export async function runLocalLifecycle(client: Client, alias: string, s: LifecycleSettings, now = Date.now()): Promise<LocalRunResult> {
  const result: LocalRunResult = { alias, deleted: [] };
  const r = await client.indices.rollover({ alias, conditions: { max_age: s.max_age, max_primary_shard_size: s.max_primary_shard_size } as never });
  if (r.rolled_over) result.rolledOver = { from: r.old_index, to: r.new_index, conditions: r.conditions };
  const expired = expiredIndices(await backingIndices(client, alias), parseDuration(s.retention), now);
  if (expired.length) {
    // Several pipeline instances run this pass; the one that comes second finds the index gone, which is the goal.
    await client.indices.delete({ index: expired.join(','), ignore_unavailable: true });
    result.deleted = expired;
  }
  return result;
}

export interface LifecycleCounters {
  rollovers: number;
  deleted: number;
  failures: number;
}

/**
 * Runs the local mode on a timer for the given aliases. A failed pass is
 * logged and counted and tried again at the next tick: it never stops
 * indexing, and the next pass catches up (rollover conditions are evaluated
 * afresh, expired indices are still expired).
 */
export class LocalLifecycle {
  readonly counters: LifecycleCounters = { rollovers: 0, deleted: 0, failures: 0 };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly client: Client, private readonly aliases: string[], private readonly s: LifecycleSettings, private readonly log?: Logger) {}

  async runOnce(now = Date.now()): Promise<LocalRunResult[]> {
    const out: LocalRunResult[] = [];
    for (const alias of this.aliases) {
      try {
        const r = await runLocalLifecycle(this.client, alias, this.s, now);
        if (r.rolledOver) {
          this.counters.rollovers++;
          this.log?.info({ alias, from: r.rolledOver.from, to: r.rolledOver.to, conditions: r.rolledOver.conditions }, 'rolled the write alias over');
        }
        if (r.deleted.length) {
          this.counters.deleted += r.deleted.length;
          this.log?.info({ alias, deleted: r.deleted, retention: this.s.retention }, 'deleted indices past retention');
        }
        out.push(r);
      } catch (err) {
        this.counters.failures++;
        this.log?.warn({ alias, err: (err as Error).message }, 'index lifecycle pass failed; retrying at the next check');
      }
    }
    return out;
  }

  start(): void {
    const every = parseDuration(this.s.check_interval, 'check_interval');
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce().then(() => undefined).finally(() => { this.running = undefined; });
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
