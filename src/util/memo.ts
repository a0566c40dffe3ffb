/**
 * A memo for pure functions of a few strings on the hot path. Bounded: when full it starts over, which is cheap and
 * right for a cluster's small working set of images and versions. Keys longer than maxKeyLength are computed and
 * not kept, so odd inputs cannot fill memory.
 */
export class BoundedMemo<V> {
  private readonly map = new Map<string, V>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxKeyLength = Infinity,
  ) {}

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
