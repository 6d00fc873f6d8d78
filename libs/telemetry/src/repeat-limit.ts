// Lines that an outside party can make us write over and over (failed logins, refused connections,
// errors answered to clients) go through a RepeatLimiter: at most `perWindow` lines per kind per
// window, then one summary line saying how many were left out. A flood costs a few lines a minute.
import type pino from "pino";

export type LimitedLevel = "info" | "warn" | "error";

export interface RepeatLimiterOptions {
  /** Lines of one kind written per window before the rest are counted instead (0 = none). */
  perWindow: number;
  /** Default 60 000 (a minute). */
  windowMs?: number;
  /** Clock (tests); default Date.now. */
  now?: () => number;
}

interface KindState {
  windowStart: number;
  written: number;
  suppressed: number;
  level: LimitedLevel;
}

export class RepeatLimiter {
  private readonly kinds = new Map<string, KindState>();
  private readonly perWindow: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: pino.Logger,
    opts: RepeatLimiterOptions,
  ) {
    this.perWindow = opts.perWindow;
    this.windowMs = opts.windowMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Writes the line unless `kind` already had its share in the current window. `kind` names what
   * repeats (e.g. "login-failed", "service-error:DEVICE:TOO_MANY_DEVICES"), not the varying details.
   */
  log(level: LimitedLevel, kind: string, fields: Record<string, unknown>, msg: string): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const t = this.now();
    let s = this.kinds.get(kind);
    if (s !== undefined && t - s.windowStart >= this.windowMs) {
      this.summarise(kind, s);
      s = undefined;
    }
    if (s === undefined) {
      s = { windowStart: t, written: 0, suppressed: 0, level };
      this.kinds.set(kind, s);
      this.arm();
    }
    if (s.written < this.perWindow) {
      s.written++;
      this.logger[level]({ ...fields, kind }, msg);
    } else {
      s.suppressed++;
    }
  }

  /** Summaries of windows that ended (also run by an unref'd timer, and by close()). */
  flush(force = false): void {
    const t = this.now();
    for (const [kind, s] of this.kinds) {
      if (force || t - s.windowStart >= this.windowMs) this.summarise(kind, s);
    }
    if (this.kinds.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    this.flush(true);
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private summarise(kind: string, s: KindState): void {
    this.kinds.delete(kind);
    if (s.suppressed === 0) return;
    this.logger[s.level](
      { kind, suppressed: s.suppressed, windowMs: this.windowMs },
      `${s.suppressed} more "${kind}" line(s) left out (over ${this.perWindow} per ${Math.round(this.windowMs / 1000)} s)`,
    );
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.flush(), this.windowMs);
    this.timer.unref();
  }
}
