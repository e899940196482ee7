// Runs async jobs one after another. A stage set is not re-entrant: a batch
// and the idle ticker (idle-ticker.ts) must not interleave on it, or a tick
// could close a window between two documents of one batch and a failed
// batch's retry would see stage state half-advanced.

export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
