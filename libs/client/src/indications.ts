import { ClientError } from "./errors.js";
import type { ResponseFrame } from "./frames.js";

export type FramePredicate = (f: ResponseFrame) => boolean;

interface Waiter {
  predicate: FramePredicate | undefined;
  resolve(f: ResponseFrame): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Indications not yet taken, and the callers waiting for one. Each indication goes to exactly one
 * consumer: the oldest waiter whose predicate accepts it, else the buffer, where a later
 * `next()` finds it. The buffer is capped so a client nobody reads from (a benchmark load
 * generator) does not grow without bound; the oldest are dropped and counted.
 */
export class IndicationQueue {
  private buf: ResponseFrame[] = [];
  private waiters: Waiter[] = [];
  private ended: ClientError | null = null;
  dropped = 0;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.buf.length;
  }

  push(f: ResponseFrame): void {
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      let match: boolean;
      try {
        match = w.predicate === undefined || w.predicate(f);
      } catch (e) {
        this.waiters.splice(i--, 1);
        if (w.timer) clearTimeout(w.timer);
        w.reject(e);
        continue;
      }
      if (match) {
        this.waiters.splice(i, 1);
        if (w.timer) clearTimeout(w.timer);
        w.resolve(f);
        return;
      }
    }
    this.buf.push(f);
    if (this.buf.length > this.limit) {
      this.buf.shift();
      this.dropped++;
    }
  }

  next(predicate: FramePredicate | undefined, timeoutMs: number): Promise<ResponseFrame> {
    for (let i = 0; i < this.buf.length; i++) {
      const f = this.buf[i]!;
      let match: boolean;
      try {
        match = predicate === undefined || predicate(f);
      } catch (e) {
        return Promise.reject(e);
      }
      if (match) {
        this.buf.splice(i, 1);
        return Promise.resolve(f);
      }
    }
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const w: Waiter = { predicate, resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        w.timer = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new ClientError("TIMEOUT", `no matching indication within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  drain(): ResponseFrame[] {
    const out = this.buf;
    this.buf = [];
    return out;
  }

  /** The connection is gone: waiters fail now, later `next()` calls fail once the buffer has nothing for them. */
  end(err: ClientError): void {
    if (this.ended !== null) return;
    this.ended = err;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(err);
    }
  }

  get isEnded(): boolean {
    return this.ended !== null;
  }
}
