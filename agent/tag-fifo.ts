// The in-memory labels of the messages this process put in the spool, in
// spool order, so that an outcome (sent, dropped) can be reported against the
// caller's label (agent --replay: the input line). Messages spooled by an
// earlier run have no label. Unlabelled runs are stored as a count, so a live
// agent (which labels nothing) pays nothing per spooled record.

type Chunk = { count: number } | { tags: number[] };

export class TagFifo {
  private chunks: Chunk[] = [];

  push(tags: ReadonlyArray<number | undefined>): void {
    for (const t of tags) {
      const last = this.chunks[this.chunks.length - 1];
      if (t === undefined) {
        if (last && 'count' in last) last.count++;
        else this.chunks.push({ count: 1 });
      } else if (last && 'tags' in last) {
        last.tags.push(t);
      } else {
        this.chunks.push({ tags: [t] });
      }
    }
  }

  /** Puts labels back at the front (messages that left the spool's head but were not sent). */
  unshift(tags: ReadonlyArray<number | undefined>): void {
    const front = new TagFifo();
    front.push(tags);
    this.chunks = [...front.chunks, ...this.chunks];
  }

  /** Removes and returns the labels of the first n messages. */
  shift(n: number): Array<number | undefined> {
    const out: Array<number | undefined> = [];
    while (out.length < n && this.chunks.length > 0) {
      const c = this.chunks[0]!;
      const want = n - out.length;
      if ('count' in c) {
        const k = Math.min(want, c.count);
        for (let i = 0; i < k; i++) out.push(undefined);
        c.count -= k;
        if (c.count === 0) this.chunks.shift();
      } else {
        out.push(...c.tags.splice(0, want));
        if (c.tags.length === 0) this.chunks.shift();
      }
    }
    // Fewer labels than messages means the spool held more than we tracked
    // (e.g. records from an earlier run): those have none.
    while (out.length < n) out.push(undefined);
    return out;
  }
}
