// The read side of avatars: an in-process cache of encoded GET bodies, bounded by bytes (least
// recently used go first), with concurrent misses for one hash sharing one database read. A popular
// avatar is read from the database once per process, then served from memory. Images are immutable
// (content-addressed), so a cached one is never stale; only a swept one can linger in another
// process's cache, which serves an image nobody shows any more — harmless, and evicted in time.

export interface ByteCacheOptions {
  /** Bytes of values kept at most (IMPP_AVATAR_CACHE_BYTES); 0 = cache nothing. */
  maxBytes: number;
}

export class ByteLru {
  private readonly entries = new Map<string, Buffer>();
  private readonly loading = new Map<string, Promise<Buffer | undefined>>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly opts: ByteCacheOptions) {}

  get bytes(): number {
    return this.total;
  }
  get size(): number {
    return this.entries.size;
  }

  peek(key: string): Buffer | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      // Map order is the LRU order.
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, value: Buffer): void {
    this.delete(key);
    if (value.length > this.opts.maxBytes) return;
    this.entries.set(key, value);
    this.total += value.length;
    while (this.total > this.opts.maxBytes) {
      const [oldest, v] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.total -= v.length;
    }
  }

  delete(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.total -= v.length;
  }

  /** The cached value, or `load`'s (cached when found); one load per key at a time. */
  async get(key: string, load: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
    const hit = this.peek(key);
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    const pending = this.loading.get(key);
    if (pending !== undefined) {
      this.hits++;
      return pending;
    }
    this.misses++;
    const p = load().then(
      (v) => {
        this.loading.delete(key);
        if (v !== undefined) this.set(key, v);
        return v;
      },
      (err: unknown) => {
        this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, p);
    return p;
  }
}
