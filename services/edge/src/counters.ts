// The edge's metrics with the per-family children cached: a frame costs an array lookup and an
// increment, not a label-hash per frame. Labels stay in closed sets (family names or "other",
// error codes the edge or its services send).
import { FAMILIES, familyName } from "@impp/protocol";
import type { Metrics } from "@impp/telemetry";
import { type CloseReason, closeReasonLabel } from "./sweeper.js";

type Child = { inc(value?: number): void };

function familyLabel(family: number): string {
  return FAMILIES[family] === undefined ? "other" : familyName(family);
}

export class EdgeCounters {
  private readonly inByFamily = new Map<string, Child>();
  private readonly outByFamily = new Map<string, Child>();
  private readonly errorsByKey = new Map<number, Child>();
  private readonly connGauge: { inc(): void; dec(): void };

  constructor(
    private readonly metrics: Metrics,
    edgeId: string,
  ) {
    this.connGauge = metrics.connections.labels(edgeId);
  }

  frameIn(family: number): void {
    this.child(this.inByFamily, this.metrics.framesIn, familyLabel(family)).inc();
  }

  frameOut(family: number): void {
    this.child(this.outByFamily, this.metrics.framesOut, familyLabel(family)).inc();
  }

  error(family: number, code: number): void {
    const key = (FAMILIES[family] === undefined ? 0 : family) * 0x10000 + code;
    let c = this.errorsByKey.get(key);
    if (c === undefined) {
      c = this.metrics.errors.labels(familyLabel(family), `0x${code.toString(16).padStart(4, "0")}`);
      this.errorsByKey.set(key, c);
    }
    c.inc();
  }

  bytesIn(n: number): void {
    this.metrics.bytesIn.inc(n);
  }

  bytesOut(n: number): void {
    this.metrics.bytesOut.inc(n);
  }

  opened(): void {
    this.connGauge.inc();
  }

  closed(reason: CloseReason): void {
    this.connGauge.dec();
    this.metrics.connectionsClosed.inc({ reason: closeReasonLabel(reason) });
  }

  /**
   * A connection refused before it was counted as open: "limit" (max connections, accept while
   * draining) or "prelogin_memory" (connections not logged in hold too much).
   */
  refused(reason: "limit" | "prelogin_memory" = "limit"): void {
    this.metrics.connectionsClosed.inc({ reason });
  }

  /** A connection ran out of work allowance (its own or its account's). */
  throttled(scope: string): void {
    this.metrics.throttled.inc({ scope });
  }

  private child(cache: Map<string, Child>, counter: { labels(...v: string[]): Child }, label: string): Child {
    let c = cache.get(label);
    if (c === undefined) {
      c = counter.labels(label);
      cache.set(label, c);
    }
    return c;
  }
}
