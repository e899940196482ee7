import type { AlertDoc } from '../lib/alert.js';

// Alerts raised by a batch whose delivery failed. Kafka redelivers the batch
// and the stages see its documents again, but their state has already moved
// on: a suppressed group does not alert twice, a pivot chain already decided
// is not decided again. Without this outbox such an alert would be lost. It is
// kept here and sent with the next attempt; ids are deterministic, so an alert
// that the retry raises again overwrites the same document.

export class AlertOutbox {
  private readonly pending = new Map<string, AlertDoc>();

  /** Adds this attempt's alerts; returns everything still owed, oldest first. */
  take(alerts: AlertDoc[]): AlertDoc[] {
    for (const a of alerts) this.pending.set(a.event.id, a);
    return [...this.pending.values()];
  }

  /** Elasticsearch acknowledged (indexed or dead-lettered) everything taken. */
  delivered(): void {
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}
