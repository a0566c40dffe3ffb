/**
 * A bounded LRU map with a per-entry expiry. Keys come from image names written by Pod authors, so both the key
 * length and the number of entries are capped: a longer key is simply not cached, and the least recently used
 * entry goes when the map is full.
 */
export class TtlLru<V> {
  private readonly map = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxKeyLength: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.map.delete(key);
      return undefined;
    }
    // Re-insert: Map iteration order is insertion order, so the first key is the least recently used.
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0 || key.length > this.maxKeyLength || this.maxEntries <= 0) return;
    this.map.delete(key);
    while (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    this.map.set(key, { value, expires: this.now() + ttlMs });
  }

  /** When a live entry expires (the clock's ms), without touching its recency; undefined if absent or expired. */
  expiresAt(key: string): number | undefined {
    const e = this.map.get(key);
    return e && e.expires > this.now() ? e.expires : undefined;
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}
