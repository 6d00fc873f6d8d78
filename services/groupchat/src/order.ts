// Per-key serialization in the process: work for one group runs one at a time, in the order it was
// queued, while different groups proceed concurrently. A failed step does not stop the ones behind.
export class PerKey {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    const p = prev === undefined ? fn() : prev.then(fn);
    const tail = p.then(
      () => {},
      () => {},
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return p;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
