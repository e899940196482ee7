import type { ConnectionRecord } from '../lib/record.js';
import { PROFILES, restrictRecord, type ProfileName } from '../lib/rollout.js';
import type { HealthCounters, RecordSink } from './sink.js';

// Applies a rollout profile (lib/rollout.ts) in front of the real sink:
// fields outside the profile leave the host empty, and a profile without
// interim records does not send them (the connection's final record still
// comes). Skipped interim records are counted into the health report's
// `filtered` (dropped by configuration, not lost), so nothing goes silently.

export class ProfiledSink implements RecordSink {
  skippedInterim = 0;

  constructor(private readonly inner: RecordSink, readonly profile: ProfileName) {}

  async write(rec: ConnectionRecord): Promise<void> {
    if (rec.kind === 'interim' && !PROFILES[this.profile].interim) {
      this.skippedInterim++;
      return;
    }
    await this.inner.write(restrictRecord(rec, this.profile));
  }

  reportHealth(h: HealthCounters): Promise<void> {
    return this.inner.reportHealth({ ...h, filtered: h.filtered + this.skippedInterim });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
