/**
 * Attempts in progress per rate-limit key, in this process. The limits count failures once a
 * password check has failed; without this, many attempts sent at once would all pass the check
 * "fewer than N failures so far" before any of them failed, and each get an answer. Here an attempt
 * may start only while failures + attempts in progress stay under the limit; the others wait for a
 * slot and then look at the count again. Several auth instances can still overshoot by one
 * limit's worth each (the gate is per process), which bounds the leak instead of leaving it open.
 */
export class AttemptGate {
  private readonly inflight = new Map<string, number>();
  private waiters: Array<() => void> = [];

  count(key: string): number {
    return this.inflight.get(key) ?? 0;
  }

  enter(keys: readonly string[]): void {
    for (const k of keys) this.inflight.set(k, this.count(k) + 1);
  }

  leave(keys: readonly string[]): void {
    for (const k of keys) {
      const n = this.count(k) - 1;
      if (n <= 0) this.inflight.delete(k);
      else this.inflight.set(k, n);
    }
    // Few waiters, woken rarely (only while someone is being limited): waking all is simplest.
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  /** Resolves at the next leave(). */
  released(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
