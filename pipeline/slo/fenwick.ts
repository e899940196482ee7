// A Fenwick (binary indexed) tree: point add and prefix sum in O(log n) over
// a fixed number of slots. The SLO windows use it so a window can end at any
// bucket (the event's own time), not only at the newest one, without
// re-summing the window for every document.
// Fenwick, "A new data structure for cumulative frequency tables" (1994).

export class Fenwick {
  /** 1-based: tree[k] holds the sum of the (k & -k) slots ending at slot k-1. */
  private readonly tree: Float64Array;

  constructor(readonly n: number) {
    this.tree = new Float64Array(n + 1);
  }

  add(slot: number, v: number): void {
    for (let k = slot + 1; k <= this.n; k += k & -k) this.tree[k]! += v;
  }

  /** Sum of slots 0..slot inclusive; slot -1 gives 0. */
  prefix(slot: number): number {
    let s = 0;
    for (let k = slot + 1; k > 0; k -= k & -k) s += this.tree[k]!;
    return s;
  }

  /** The value of one slot. */
  get(slot: number): number {
    return this.prefix(slot) - this.prefix(slot - 1);
  }

  clear(): void {
    this.tree.fill(0);
  }

  /** Replace every slot at once in O(n) (used by restore). */
  load(values: ArrayLike<number>): void {
    const t = this.tree;
    for (let i = 1; i <= this.n; i++) t[i] = values[i - 1] ?? 0;
    for (let i = 1; i <= this.n; i++) {
      const parent = i + (i & -i);
      if (parent <= this.n) t[parent]! += t[i]!;
    }
  }

  /** Every slot's value in O(n): load() run backwards (used by snapshot). */
  values(): Float64Array {
    const t = this.tree.slice();
    for (let i = this.n; i >= 1; i--) {
      const parent = i + (i & -i);
      if (parent <= this.n) t[parent]! -= t[i]!;
    }
    return t.subarray(1);
  }
}
