// What keeps one client from taking the event loop away from everyone else (issue #11): a work
// allowance per connection and per account (token buckets counting bytes read plus bytes inflated),
// and round-robin turns, so a connection with more input than one slice of work yields to the
// others before it goes on. The event loop is the scarce resource: a bystander's PING waits behind
// at most a slice of each busy connection, not behind everything they sent.

/**
 * A token bucket in bytes of work: `rate` per second, at most `burst` saved up. Charged after the
 * work is done (its cost is known only then), so the balance can go negative: the owner then waits
 * until it is positive again.
 */
export class WorkBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Charges `n` bytes of work; returns ms until the balance is positive again (0 = not in debt). */
  charge(n: number, now: number): number {
    this.refill(now);
    this.tokens -= n;
    return this.waitMs(now);
  }

  /** Ms until the balance is positive again (0 = it is). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens > 0 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }

  /** Full again: nothing owed, nothing to remember. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    if (now <= this.at) return;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
  }
}

/** One bucket per account over all its connections on this edge; dropped when its last connection goes. */
export class AccountBuckets {
  private readonly buckets = new Map<string, { bucket: WorkBucket; users: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  acquire(account: string, now: number): WorkBucket {
    let e = this.buckets.get(account);
    if (e === undefined) {
      e = { bucket: new WorkBucket(this.rate, this.burst, now), users: 0 };
      this.buckets.set(account, e);
    }
    e.users++;
    return e.bucket;
  }

  release(account: string): void {
    const e = this.buckets.get(account);
    if (e === undefined) return;
    if (--e.users <= 0) this.buckets.delete(account);
  }

  get size(): number {
    return this.buckets.size;
  }
}

export interface TurnTaker {
  /** In the queue now (set and cleared by Turns only). */
  scheduled: boolean;
  /** Do one slice of work; must not throw. */
  turn(): void;
}

/**
 * Round-robin turns on the event loop: a connection that still has input after one slice queues
 * here and gets its next slice after everyone queued before it (and everything the poll phase
 * brought meanwhile: new input is handled on arrival, a slice at most, so a bystander's PING goes
 * out in its own data event).
 */
export class Turns {
  private queue: TurnTaker[] = [];
  private armed = false;

  later(t: TurnTaker): void {
    if (t.scheduled) return;
    t.scheduled = true;
    this.queue.push(t);
    if (!this.armed) {
      this.armed = true;
      setImmediate(Turns.run, this);
    }
  }

  get waiting(): number {
    return this.queue.length;
  }

  private static run(self: Turns): void {
    self.armed = false;
    const q = self.queue;
    self.queue = [];
    // Whoever still has work after this turn queues again, behind the ones queued meanwhile.
    for (const t of q) {
      t.scheduled = false;
      t.turn();
    }
  }
}
