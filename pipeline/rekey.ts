import type { AlertDoc } from '../lib/alert.js';
import type { ConnectionDoc } from '../lib/ecs.js';
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
// - Message: key = `${by}=${key}`, value = JSON of the enriched ConnectionDoc
//   (internal topic, so no Avro: the consumer needs the enriched fields and
//   slo.* without re-running enrichment), headers REKEY_HEADER_BY = by.
// - The rekey consumer calls `processRekeyed(doc, by, key)` on every
//   RekeyStage, then `tick()` per batch; alerts go to connaudit-alerts as usual.
//   Docs are NOT indexed again (the primary already did) and the cross-host
//   set never gets a Rekeyer, so nothing loops.
// - pipeline/rules/index.ts decides which rules run where: `createRuleStage(
//   ruleset, { log, rekey })` for the primary set, and (when it has any
//   cross-host rules) `createCrossHostRuleStage(ruleset, { log }): RekeyStage &
//   { reload(ruleset): void }`. No such export, or no cross-host rules -> the
//   pipeline starts no rekey consumer.
// - `rules backtest` and unit tests use `localRekey()`, which hands requests
//   straight to the cross-host stages in-process: the same stage code, without
//   Kafka.

export interface Rekeyer {
  request(doc: ConnectionDoc, by: string, key: string): void;
}

/** A stage that runs on the rekey consumer: it sees every doc whose `by` value hashes to its partitions. */
export interface RekeyStage extends Omit<Stage, 'process'> {
  processRekeyed(doc: ConnectionDoc, by: string, key: string): AlertDoc[];
}

export const REKEY_HEADER_BY = 'rekey-by';

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

/**
 * In-process re-keying for backtests and tests: requests go straight to the
 * cross-host stages, so a single process gives the alerts that the Kafka hop
 * gives across instances. Alerts raised this way are collected for `take()`.
 */
export function localRekey(stages: RekeyStage[]): Rekeyer & { take(): AlertDoc[] } {
  const buf = new RekeyBuffer();
  let alerts: AlertDoc[] = [];
  return {
    request(doc, by, key) {
      buf.request(doc, by, key);
      for (const r of buf.drain()) {
        for (const s of stages) alerts.push(...s.processRekeyed(r.doc, r.by, r.key));
      }
    },
    take() {
      const out = alerts;
      alerts = [];
      return out;
    },
  };
}
