import type { Client } from '@elastic/elasticsearch';

/** Polls for sampled ids not yet seen and notes when each first became searchable (no refresh forced). */
export class Sampler {
  readonly pending = new Map<string, number>();
  readonly latencies: number[] = [];
  private running = true;
  private loop?: Promise<void>;

  constructor(private readonly es: Client, private readonly index: string, private readonly pollMs: number) {}

  add(id: string, closedAtMs: number): void {
    this.pending.set(id, closedAtMs);
  }

  start(): void {
    this.loop = (async () => {
      while (this.running) {
        const t0 = Date.now();
        if (this.pending.size > 0) await this.pollOnce();
        await new Promise((r) => setTimeout(r, Math.max(0, this.pollMs - (Date.now() - t0))));
      }
    })();
  }

  private async pollOnce(): Promise<void> {
    // index.max_result_window (10,000) bounds one search; the oldest pending ids go first.
    const ids = [...this.pending.keys()].slice(0, 10_000);
    const res = await this.es.search({ index: this.index, query: { ids: { values: ids } }, _source: false, size: ids.length }).catch(() => undefined);
    // The response time is an upper bound of when the document became searchable (at most pollMs + one search late).
    const seenAt = Date.now();
    for (const h of res?.hits.hits ?? []) {
      const closed = this.pending.get(h._id!);
      if (closed === undefined) continue;
      this.latencies.push((seenAt - closed) / 1000);
      this.pending.delete(h._id!);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
