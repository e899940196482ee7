import type { Stage } from '../stage.js';
import type { SloStage } from './index.js';
import { SloLedger } from './ledger.js';

// The SLO stage in a pipeline with per-partition state (pipeline/tasks.ts).
// One SloStage per instance judges over the sum of the partitions it owns;
// each partition runs through a view of it that notes the partition's share
// in a ledger. The ledger is the partition's persisted SLO state: restored, it
// is added to the sums; when the partition goes (revoked, or its batch failed
// and will be re-read), it is taken out again, so no count is ever held twice.
// What the judgement itself keeps (open incidents, the judged minute, the
// event clock, evidence) spans the instance: sloInstanceState() persists it.

export function sloPartitionStage(slo: SloStage): Stage & { dispose(): void } {
  let ledger = new SloLedger();
  return {
    name: 'slo',
    process: (doc) => slo.process(doc, ledger),
    tick: (t) => slo.tick(t),
    annotateAlert: (a) => slo.annotateAlert(a),
    snapshot: () => ledger.snapshot(),
    restore: (s) => {
      slo.detach(ledger);
      ledger = SloLedger.restore(s);
      slo.attach(ledger);
    },
    dispose: () => {
      slo.detach(ledger);
      ledger = new SloLedger();
    },
  };
}

/** The instance-wide part of the SLO state: persisted per instance, never run on documents. */
export function sloInstanceState(slo: SloStage): { name: string; snapshot(): unknown; restore(s: unknown): void } {
  return {
    name: 'slo-instance',
    snapshot: () => slo.snapshot({ counts: false }),
    restore: (s) => slo.restore(s),
  };
}
