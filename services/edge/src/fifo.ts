// Per-connection request queue (PROTOCOL.md §2.4): strictly one request at a time across all
// families until the device is bound, then one in flight per family while families run
// concurrently. Items run synchronously when the runner returns nothing (PING, local errors),
// so answers the edge gives itself cost no promise.

export interface FifoItem {
  family: number;
}

/**
 * What the queue calls back. One object (the connection itself) rather than three closures: the
 * queue exists once per connection, and idle connections are what the edge holds by the 100k.
 */
export interface FifoOwner<T> {
  /** Runs one item. A returned promise holds the item's family (or, serial, the whole queue) until it settles. */
  runQueued(item: T): void | Promise<void>;
  /** An asynchronous item settled (the connection resumes reading if it had paused). */
  queueSettled(): void;
  /** A runner that threw or rejected: contained here, reported there. */
  queueFailed(error: unknown): void;
}

/** Empty arrays are shared until something waits or runs, and dropped again when all is done. */
const NONE: never[] = [];

export class FamilyFifo<T extends FifoItem> {
  private concurrent = false;
  private closed = false;
  private pumping = false;
  /** Waiting items in arrival order (bounded by the connection's queue limit, so a small array). */
  private waiting: T[] = NONE;
  /** Families with an item in flight (at most one each, and few families: an array beats a Set). */
  private busy: number[] = NONE;
  private running = 0;

  constructor(private readonly owner: FifoOwner<T>) {}

  /** Items waiting plus items in flight. */
  get size(): number {
    return this.waiting.length + this.running;
  }

  get isConcurrent(): boolean {
    return this.concurrent;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting === NONE) this.waiting = [];
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
    this.waiting = NONE;
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
        if (this.concurrent && this.busy.includes(item.family)) {
          i++;
          continue;
        }
        this.waiting.splice(i, 1);
        let result: void | Promise<void>;
        try {
          result = this.owner.runQueued(item);
        } catch (e) {
          this.owner.queueFailed(e);
          continue;
        }
        if (result === undefined) continue;
        this.running++;
        if (this.busy === NONE) this.busy = [];
        this.busy.push(item.family);
        result.then(
          () => this.settle(item.family),
          (e: unknown) => {
            this.owner.queueFailed(e);
            this.settle(item.family);
          },
        );
      }
      if (this.waiting.length === 0) this.waiting = NONE;
    } finally {
      this.pumping = false;
    }
  }

  private settle(family: number): void {
    this.running--;
    const i = this.busy.indexOf(family);
    if (i >= 0) this.busy.splice(i, 1);
    if (this.running === 0) this.busy = NONE;
    this.pump();
    this.owner.queueSettled();
  }
}
