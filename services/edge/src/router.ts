// One client request → the owning service over the bus → its ReplyEnvelope. Failures come back
// as values: the connection answers SERVICE_UNAVAILABLE for all of them.
import {
  type Bus,
  EnvelopeEncodeError,
  isBusError,
  isEnvelopeError,
  type ReplyEnvelope,
  requestService,
} from "@impp/bus";

import { familyName, typeName } from "@impp/protocol";
import {
  extractContext,
  isTracing,
  type Metrics,
  NO_SPAN,
  type Span,
  SpanStatusCode,
  type Tracer,
  traceHeaders,
  withLinkedSpan,
} from "@impp/telemetry";

/**
 * Each client request starts its own trace (sampled by IMPP_TRACE_MESSAGE_RATIO), linked to its
 * connection's impp.session span. Explicitly the root context: the ambient async context (a
 * promise chain of the connection's previous request) must not make one request a child of another.
 */
const ROOT = extractContext(undefined);

export interface RouteRequest {
  readonly flags: number;
  readonly family: number;
  readonly type: number;
  readonly sequence: number;
  /** Decompressed, already checked to be well-formed TLVs. */
  readonly block: Uint8Array;
  readonly connId: string;
  readonly account: string;
  readonly device: string;
  readonly capabilities: readonly number[];
  readonly remoteAddress: string;
  /** The connection's impp.session span: linked from the request's span when it records. */
  readonly session: Span;
}

export type RouteFailure = "no_responders" | "timeout" | "bad_reply" | "bus";

export type RouteOutcome =
  | { readonly ok: true; readonly reply: ReplyEnvelope }
  | { readonly ok: false; readonly reason: RouteFailure; readonly detail: string };

export interface RouterDeps {
  readonly bus: Bus;
  readonly tracer: Tracer;
  readonly metrics: Metrics;
  readonly edgeId: string;
  /** The edge's public address (config.serverName). */
  readonly serverName: string;
  readonly timeoutMs: number;
}

/** How long after sending a request a service may still start it: half of the edge's timeout. */
export function requestStartBudget(timeoutMs: number): number {
  return Math.floor(timeoutMs / 2);
}

export class Router {
  /** The request-duration histogram's child per family, found once (not a label hash per request). */
  private readonly durations = new Map<number, { observe(v: number): void }>();
  private readonly tracing: boolean;

  constructor(private readonly deps: RouterDeps) {
    this.tracing = isTracing(deps.tracer);
  }

  request(req: RouteRequest): Promise<RouteOutcome> {
    // Without an exporter there is no span to make: the request goes straight out.
    if (!this.tracing) return this.measured(req, NO_SPAN);
    const fam = familyName(req.family);
    return withLinkedSpan(
      this.deps.tracer,
      `edge ${fam} ${typeName(req.family, req.type)}`,
      ROOT,
      { "impp.family": fam, "impp.type": req.type, "impp.sequence": req.sequence, "impp.conn": req.connId },
      // Not recording = nothing is exported: no link is built per request then.
      req.session.isRecording() ? [{ context: req.session.spanContext() }] : undefined,
      (span) => this.measured(req, span),
    );
  }

  private async measured(req: RouteRequest, span: Span): Promise<RouteOutcome> {
    const started = performance.now();
    // One async frame per request: the call and its outcome here, not in a second function (#13).
    let out: RouteOutcome;
    try {
      const reply = await this.send(req);
      out = isEnvelopeError(reply)
        ? { ok: false, reason: "bad_reply", detail: reply.message }
        : { ok: true, reply };
    } catch (e) {
      out = failure(e);
    }
    this.duration(req.family).observe((performance.now() - started) / 1000);
    if (!out.ok) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${out.reason}: ${out.detail}` });
      this.deps.metrics.busRequestFailures.inc({ family: familyName(req.family), reason: out.reason });
    }
    return out;
  }

  private duration(family: number): { observe(v: number): void } {
    let h = this.durations.get(family);
    if (h === undefined) {
      const fam = familyName(family);
      h = this.deps.metrics.requestDuration.labels(fam, fam);
      this.durations.set(family, h);
    }
    return h;
  }

  private send(req: RouteRequest): ReturnType<typeof requestService> {
    const d = this.deps;
    // Runs inside the request's span (when tracing), so the traceparent names it as the parent.
    return requestService(
      d.bus,
      {
        // A service starts the request within the first half of our wait or never (it drops it
        // unstarted past the deadline); the second half is for its work. So when we give up and
        // answer SERVICE_UNAVAILABLE, a service that was stalled has not begun and never will.
        deadline: Date.now() + requestStartBudget(d.timeoutMs),
        flags: req.flags,
        family: req.family,
        type: req.type,
        sequence: req.sequence,
        connId: req.connId,
        edgeId: d.edgeId,
        server: d.serverName,
        account: req.account,
        device: req.device,
        remoteAddress: req.remoteAddress,
        capabilities: req.capabilities,
        block: req.block,
      },
      { timeoutMs: d.timeoutMs, headers: traceHeaders() },
    );
  }
}

/** What a failed call is for the connection (it answers SERVICE_UNAVAILABLE for all of them). */
function failure(e: unknown): RouteOutcome {
  if (isBusError(e, "NO_RESPONDERS")) return { ok: false, reason: "no_responders", detail: e.message };
  if (isBusError(e, "TIMEOUT")) return { ok: false, reason: "timeout", detail: e.message };
  if (e instanceof EnvelopeEncodeError)
    return { ok: false, reason: "bus", detail: `cannot encode request: ${e.message}` };
  return { ok: false, reason: "bus", detail: (e as Error).message };
}
