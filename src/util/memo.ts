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
    checkLimits('BoundedMemo', maxEntries, maxKeyLength);
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

/**
 * A BoundedMemo for (a, b, key) triples that builds no joined key: maps nested by a, then b, then key. The engine
 * asks it once per container with the Pod's client version and python version as a and b; a joined key cost a
 * string of ~60 characters built, flattened and hashed per container. Same bounds: at most maxEntries entries in all
 * (when full it starts over), and a triple whose parts are longer than maxKeyLength together is computed, not kept.
 * null is its own key, distinct from "".
 */
export class BoundedTripleMemo<V> {
  private readonly root = new Map<string | null, Map<string | null, Map<string, V>>>();
  private entries = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxKeyLength: number,
  ) {
    checkLimits('BoundedTripleMemo', maxEntries, maxKeyLength);
  }

  /** Entries held now (diagnostics and tests). */
  get size(): number {
    return this.entries;
  }

  get(a: string | null, b: string | null, key: string, compute: () => V): V {
    if (key.length + (a === null ? 0 : a.length) + (b === null ? 0 : b.length) > this.maxKeyLength) return compute();
    const hit = this.root.get(a)?.get(b)?.get(key);
    if (hit !== undefined) return hit;
    const v = compute();
    if (this.entries >= this.maxEntries) {
      this.root.clear();
      this.entries = 0;
    }
    let byB = this.root.get(a);
    if (byB === undefined) this.root.set(a, (byB = new Map()));
    let byKey = byB.get(b);
    if (byKey === undefined) byB.set(b, (byKey = new Map()));
    if (!byKey.has(key)) this.entries++;
    byKey.set(key, v);
    return v;
  }
}

/** Both limits finite, at least one entry: there is no unbounded memo. */
function checkLimits(kind: string, maxEntries: number, maxKeyLength: number): void {
  if (!(maxEntries >= 1 && Number.isFinite(maxEntries)) || !(maxKeyLength >= 0 && Number.isFinite(maxKeyLength))) {
    throw new RangeError(`${kind} needs finite limits (maxEntries ${maxEntries}, maxKeyLength ${maxKeyLength})`);
  }
}
