import type { AlertDoc } from '../lib/alert.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import type { OutMessage, Producer } from './messages.js';
import type { Stage } from './stage.js';

// Re-keying for rules whose state spans hosts.
//
// Kafka keys connaudit.connections by host, so one pipeline instance sees all
// of a host's records and per-host rule state stays local to the partition
// owner. A fan-out seen from the targets' ingress records, or a pivot chain
// (hop n's destination is hop n+1's source), groups on a field that is NOT the
// host: with two instances the records of one group land on different
// instances and neither sees the whole group.
//
// The fix is a second hop through Kafka. A primary stage asks for a document to
// be re-published to TOPIC_REKEY keyed by the value it groups on; Kafka then
// routes every document of one group to one partition, so one owner. A second
// consumer group (REKEY_GROUP, in the same process as the primary consumer)
// reads TOPIC_REKEY and runs the cross-host stage set.
//
// Some cross-host state needs more than one hop: a pivot chain A->B->C->D is
// joined at B, then at C, then at D, and those keys can have three owners. So
// a cross-host stage may FORWARD a message of its own (e.g. the partial chain
// A->B->C) to the owner of another key (C) through the same topic. Forwards
// are the only thing a cross-host stage sends; they never carry documents, so
// re-keyed documents are never re-published. A forwarding stage must make
// cascades finite by construction (pipeline/rules/engines/pivot-chain.ts: a
// forward carries the whole chain, never revisits a host in it, and the chain
// length is capped).
//
// Contract (shared with pipeline/rules):
// - Primary stages receive a `Rekeyer` in their options and call
//   `request(doc, by, key)` from inside `process()`. `by` names the grouping
//   (use the ECS field path, e.g. 'source.ip' or 'destination.ip'); `key` is
//   its value for this doc. Requests with the same (by, key) for one doc are
//   sent once.
// - The pipeline publishes all requests of a batch to TOPIC_REKEY and waits for
//   Kafka's ack BEFORE committing the batch's source offsets, so a crash
//   re-sends (at least once) and never loses. Cross-host stages must therefore
//   tolerate a duplicate doc (dedupe on doc.event.id if counts matter).
// - Document message: key = `${by}=${key}`, value = JSON of the enriched
//   ConnectionDoc (internal topic, so no Avro: the consumer needs the enriched
//   fields and slo.* without re-running enrichment), headers REKEY_HEADER_BY =
//   by.
// - Forward message: the same key scheme, so a forward for `related.ip=C`
//   reaches the partition (and owner) of every document re-keyed under C;
//   value = JSON of the stage's own body, headers REKEY_HEADER_BY = by and
//   REKEY_HEADER_KIND = 'forward'. A stage raises forwards from
//   processRekeyed/processForward/tick and hands them over in drainForwards().
//   The rekey consumer publishes them (ForwardOutbox) before committing the
//   batch that raised them; if that fails they stay in the outbox and go out
//   with the next batch, because the stage will not raise them again for the
//   redelivered input (it dedupes). Receivers must tolerate duplicate forwards.
// - The rekey consumer calls `processRekeyed(doc, by, key)` (documents) or
//   `processForward(body, by, key)` (forwards) on every RekeyStage, then
//   `tick()` per batch; alerts go to connaudit-alerts as usual. Docs are NOT
//   indexed again (the primary already did) and the cross-host set never gets
//   a Rekeyer, so documents are re-keyed exactly once.
// - pipeline/rules/index.ts decides which rules run where: `createRuleStage(
//   ruleset, { log, rekey })` for the primary set, and (when it has any
//   cross-host rules) `createCrossHostRuleStage(ruleset, { log }): RekeyStage &
//   { reload(ruleset): void }`. No such export, or no cross-host rules -> the
//   pipeline starts no rekey consumer.
// - `rules backtest`, `rules test` and unit tests use `localRekey()`, which
//   hands requests and forwards straight back to the cross-host stages
//   in-process: the same stage code, without Kafka. `flush()` there ends the
//   input: state that waits for event time to pass (a pivot root's lateness
//   margin) is decided at once.

export interface Rekeyer {
  request(doc: ConnectionDoc, by: string, key: string): void;
}

/** A message one cross-host stage sends to the owner of another key. */
export interface RekeyForward {
  by: string;
  key: string;
  /** JSON-serialisable; only the stage that raised it interprets it. */
  body: unknown;
}

/** A stage that runs on the rekey consumer: it sees every doc whose `by` value hashes to its partitions. */
export interface RekeyStage extends Omit<Stage, 'process'> {
  processRekeyed(doc: ConnectionDoc, by: string, key: string): AlertDoc[];
  /** A forward (from this or another instance) addressed to `key`, which this instance owns. */
  processForward?(body: unknown, by: string, key: string): AlertDoc[];
  /** The forwards raised since the last call; the caller delivers each to the owner of its key. */
  drainForwards?(): RekeyForward[];
  /** End of input (backtest, fixtures): decide what would otherwise wait for event time to pass. */
  flush?(): AlertDoc[];
}

export const REKEY_HEADER_BY = 'rekey-by';
/** Absent on re-keyed documents; 'forward' on a stage's forward. */
export const REKEY_HEADER_KIND = 'rekey-kind';
export const REKEY_KIND_FORWARD = 'forward';

export interface RekeyRequest {
  doc: ConnectionDoc;
  by: string;
  key: string;
}

/** The message key on TOPIC_REKEY: one partition per grouping value. */
export const rekeyMessageKey = (by: string, key: string): string => `${by}=${key}`;

/** Collects a batch's requests, dropping repeats of the same (doc, by, key). */
export class RekeyBuffer implements Rekeyer {
  private readonly seen = new Set<string>();
  private pending: RekeyRequest[] = [];

  request(doc: ConnectionDoc, by: string, key: string): void {
    const id = `${doc.event.id}\u0000${by}\u0000${key}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.pending.push({ doc, by, key });
  }

  /** Hands over what was collected since the last drain and starts afresh. */
  drain(): RekeyRequest[] {
    const out = this.pending;
    this.pending = [];
    this.seen.clear();
    return out;
  }

  get size(): number {
    return this.pending.length;
  }
}


/** A forward as a TOPIC_REKEY message (see the contract above). */
export function forwardMessage(f: RekeyForward): OutMessage {
  return { key: rekeyMessageKey(f.by, f.key), value: JSON.stringify(f.body), headers: { [REKEY_HEADER_BY]: f.by, [REKEY_HEADER_KIND]: REKEY_KIND_FORWARD } };
}

/**
 * The rekey consumer's forwards, kept until Kafka acknowledged them. One
 * outbox per rekey consumer, shared by its batches: a batch that failed after
 * its stages raised forwards leaves them here for the next batch to send, since
 * the stages dedupe the redelivered input and would not raise them again.
 */
export class ForwardOutbox {
  private pending: RekeyForward[] = [];

  collect(stages: readonly RekeyStage[]): void {
    for (const s of stages) this.pending.push(...(s.drainForwards?.() ?? []));
  }

  get size(): number {
    return this.pending.length;
  }

  /** Sends everything collected; resolves with the count once acknowledged. Throws (keeping them) if the send fails. */
  async publish(producer: Producer, topic: string): Promise<number> {
    const out = this.pending;
    if (out.length === 0) return 0;
    await producer.send(topic, out.map(forwardMessage));
    // Batches of one consumer run one after another, so nothing was added meanwhile.
    this.pending = this.pending.slice(out.length);
    return out.length;
  }
}

/**
 * A cascade of forwards ends because every forwarding stage makes it finite
 * (see the contract above). This bound only turns a broken stage into an error
 * naming it instead of a hung backtest: no correct cascade comes near it
 * (a pivot chain is at most MAX_CHAIN + 1 rounds).
 */
const MAX_LOCAL_ROUNDS = 1000;

export interface LocalRekey extends Rekeyer {
  /** Alerts raised since the last call. */
  take(): AlertDoc[];
  /** Ticks the cross-host stages, then delivers the forwards that raised. */
  tick(eventTimeMs: number): void;
  /** End of input: flushes the cross-host stages and delivers what that forwards. */
  flush(): void;
}

/**
 * In-process re-keying for backtests and tests: requests and forwards go
 * straight to the cross-host stages, so a single process gives the alerts that
 * the Kafka hop gives across instances (one process owns every key). Alerts
 * raised this way are collected for `take()`.
 */
export function localRekey(stages: RekeyStage[]): LocalRekey {
  const buf = new RekeyBuffer();
  let alerts: AlertDoc[] = [];
  const pump = () => {
    for (let round = 0; ; round++) {
      const fwd = stages.flatMap((s) => s.drainForwards?.() ?? []);
      if (fwd.length === 0) return;
      if (round >= MAX_LOCAL_ROUNDS) throw new Error(`pipeline/rekey.ts localRekey: forwards still flowing after ${MAX_LOCAL_ROUNDS} rounds (last: ${JSON.stringify(fwd[0])}); a stage in [${stages.map((s) => s.name).join(', ')}] forwards in a loop`);
      for (const f of fwd) for (const s of stages) alerts.push(...(s.processForward?.(f.body, f.by, f.key) ?? []));
    }
  };
  return {
    request(doc, by, key) {
      buf.request(doc, by, key);
      for (const r of buf.drain()) {
        for (const s of stages) alerts.push(...s.processRekeyed(r.doc, r.by, r.key));
      }
      pump();
    },
    tick(t) {
      for (const s of stages) alerts.push(...(s.tick?.(t) ?? []));
      pump();
    },
    flush() {
      for (const s of stages) alerts.push(...(s.flush?.() ?? []));
      pump();
    },
    take() {
      const out = alerts;
      alerts = [];
      return out;
    },
  };
}
