// Running subscription handlers the same way in both buses: a throw or a rejected promise is
// contained and counted (never a crash of the publisher or the process), and running async
// handlers are tracked so close() can wait for their replies.
import type { BusMessage, MessageHandler } from "./bus.js";
import { settledWithin } from "./settle.js";

export class HandlerRunner {
  /** Handler failures contained so far (Bus.handlerErrors). */
  errors = 0;
  private readonly inflight = new Set<PromiseLike<void>>();

  constructor(private readonly onError: (error: unknown, subject: string) => void) {}

  get running(): number {
    return this.inflight.size;
  }

  run(handler: MessageHandler, msg: BusMessage): void {
    let result: void | Promise<void>;
    try {
      result = handler(msg);
    } catch (e) {
      this.report(e, msg.subject);
      return;
    }
    if (result !== undefined && typeof (result as PromiseLike<void>).then === "function") {
      const tracked: PromiseLike<void> = (result as PromiseLike<void>).then(
        () => {
          this.inflight.delete(tracked);
        },
        (e: unknown) => {
          this.inflight.delete(tracked);
          this.report(e, msg.subject);
        },
      );
      this.inflight.add(tracked);
    }
  }

  report(e: unknown, subject: string): void {
    this.errors++;
    try {
      this.onError(e, subject);
    } catch {
      // A failing reporter must not turn a contained error into a crash.
    }
  }

  /** Waits until no handler runs or the deadline passes; false when time ran out first. */
  async settle(deadline: number): Promise<boolean> {
    while (this.inflight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await settledWithin(this.inflight, left))) return false;
    }
    return true;
  }
}
