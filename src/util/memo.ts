/**
 * A memo for pure functions of a few strings on the hot path. Bounded in both directions, because its keys come from
 * request data: at most maxEntries entries (when full it starts over, which is cheap and right for a cluster's small
 * working set of images and versions), and keys longer than maxKeyLength are computed and never kept, so odd inputs
 * cannot fill memory. Both limits are required: there is no unbounded memo.
 */
export class BoundedMemo<V> {
  private readonly map = new Map<string, V>();

  constructor(
    readonly maxEntries: number,
    readonly maxKeyLength: number,
  ) {
    if (!(maxEntries >= 1 && Number.isFinite(maxEntries)) || !(maxKeyLength >= 0 && Number.isFinite(maxKeyLength))) {
      throw new RangeError(`BoundedMemo needs finite limits (maxEntries ${maxEntries}, maxKeyLength ${maxKeyLength})`);
    }
  }

  /** Entries held now (diagnostics and tests). */
  get size(): number {
    return this.map.size;
  }

  get(key: string, compute: () => V): V {
    if (key.length > this.maxKeyLength) return compute();
    let v = this.map.get(key);
    if (v === undefined) {
      v = compute();
      if (this.map.size >= this.maxEntries) this.map.clear();
      this.map.set(key, v);
    }
    return v;
  }
}
