// One interval for all connections instead of a timer each (budget: 100k idle connections per
// process): idle timeout, TLS handshake timeout, slow readers, and connections that were told to
// close but whose peer never finished the close.

/** Why the edge closed a connection; also the `reason` of DeviceGoneEnvelope (u16). */
export const CloseReason = {
  CLIENT_CLOSED: 1,
  IDLE_TIMEOUT: 2,
  PROTOCOL_ERROR: 3,
  SLOW_READER: 4,
  DRAIN: 5,
  SHUTDOWN: 6,
  /** A service asked for it (CLOSE_AFTER, delivery closeAfter), or the client's version was too old. */
  SERVER_CLOSE: 7,
  TLS_HANDSHAKE_TIMEOUT: 8,
  SOCKET_ERROR: 9,
  /** The edge hit an internal error handling this connection. */
  INTERNAL_ERROR: 10,
  /** A phase before login (version, FEATURES_SET, AUTHENTICATE) was not finished within its deadline. */
  PRELOGIN_TIMEOUT: 11,
} as const;
export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];

const REASON_LABELS: Record<CloseReason, string> = {
  1: "client_close",
  2: "idle_timeout",
  3: "protocol_error",
  4: "slow_reader",
  5: "drain",
  6: "shutdown",
  7: "server_close",
  8: "tls_handshake_timeout",
  9: "socket_error",
  10: "internal_error",
  11: "prelogin_timeout",
};

export function closeReasonLabel(r: CloseReason): string {
  return REASON_LABELS[r];
}

/** A connection's clocks as the sweeper sees them (ms since the epoch; 0 = not armed). */
export interface SweepView {
  readonly lastActivity: number;
  /** The current phase's deadline before login (version, FEATURES_SET, TLS handshake, AUTHENTICATE); 0 = none. */
  readonly deadline: number;
  /** Why the connection closes when `deadline` passes. */
  readonly deadlineReason: CloseReason;
  readonly closeDeadline: number;
  readonly outputBytes: number;
}

export interface SweepLimits {
  readonly idleTimeoutMs: number;
  readonly maxOutputBuffer: number;
}

/** 0 = leave it; else why to close it now. */
export function sweepVerdict(c: SweepView, now: number, limits: SweepLimits): CloseReason | 0 {
  if (c.closeDeadline !== 0 && now >= c.closeDeadline) return CloseReason.SERVER_CLOSE;
  if (c.deadline !== 0 && now >= c.deadline) return c.deadlineReason;
  if (c.outputBytes > limits.maxOutputBuffer) return CloseReason.SLOW_READER;
  if (now - c.lastActivity >= limits.idleTimeoutMs) return CloseReason.IDLE_TIMEOUT;
  return 0;
}

/** A quarter of the shortest timeout, between 25 ms and 1 s: deadlines are met within 25%. */
export function sweepIntervalMs(...timeoutsMs: number[]): number {
  return Math.max(25, Math.min(1000, Math.floor(Math.min(...timeoutsMs) / 4)));
}

export interface Sweepable extends SweepView {
  close(reason: CloseReason): void;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly conns: Iterable<Sweepable>,
    private readonly limits: SweepLimits,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.sweep(Date.now()), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Returns how many connections it closed. Closing removes them from the set while we iterate: Sets allow that. */
  sweep(now: number): number {
    let closed = 0;
    for (const c of this.conns) {
      const verdict = sweepVerdict(c, now, this.limits);
      if (verdict !== 0) {
        c.close(verdict);
        closed++;
      }
    }
    return closed;
  }
}
