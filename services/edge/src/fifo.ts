// Per-connection request queue (PROTOCOL.md §2.4): strictly one request at a time across all
// families until the device is bound, then one in flight per family while families run
// concurrently. Items run synchronously when the runner returns nothing (PING, local errors),
// so answers the edge gives itself cost no promise.

export interface FifoItem {
  family: number;
}

/** Runs one item. A returned promise holds the item's family (or, serial, the whole queue) until it settles. */
export type FifoRunner<T> = (item: T) => void | Promise<void>;

export class FamilyFifo<T extends FifoItem> {
  private concurrent = false;
  private closed = false;
  private pumping = false;
  /** Waiting items in arrival order (bounded by the connection's queue limit, so a small array). */
  private readonly waiting: T[] = [];
  /** Families with an item in flight. */
  private readonly busy = new Set<number>();
  private running = 0;

  constructor(
    private readonly run: FifoRunner<T>,
    /** Called after an asynchronous item settled (the connection resumes reading if it had paused). */
    private readonly onSettled: () => void,
    /** A runner that threw or rejected: contained here, reported there. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Items waiting plus items in flight. */
  get size(): number {
    return this.waiting.length + this.running;
  }

  get isConcurrent(): boolean {
    return this.concurrent;
  }

  push(item: T): void {
    if (this.closed) return;
    this.waiting.push(item);
    this.pump();
  }

  /** Bound: families run concurrently. Unbound again: back to strict arrival order. */
  setConcurrent(on: boolean): void {
    this.concurrent = on;
    this.pump();
  }

  /** The connection is gone: drop what waits; items in flight finish on their own. */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
  }

  private pump(): void {
    // A runner may call setConcurrent (the BIND reply) while we are inside this loop.
    if (this.pumping) return;
    this.pumping = true;
    try {
      let i = 0;
      while (i < this.waiting.length && !this.closed) {
        if (!this.concurrent && this.running > 0) break;
        const item = this.waiting[i]!;
        if (this.concurrent && this.busy.has(item.family)) {
          i++;
          continue;
        }
        this.waiting.splice(i, 1);
        let result: void | Promise<void>;
        try {
          result = this.run(item);
        } catch (e) {
          this.onError(e);
          continue;
        }
        if (result === undefined) continue;
        this.running++;
        this.busy.add(item.family);
        result.then(
          () => this.settle(item.family),
          (e: unknown) => {
            this.onError(e);
            this.settle(item.family);
          },
        );
      }
    } finally {
      this.pumping = false;
    }
  }

  private settle(family: number): void {
    this.running--;
    this.busy.delete(family);
    this.pump();
    this.onSettled();
  }
}
