// The bus side of a service: decode the envelope, continue the trace, run the handler, reply.
import type { Bus, Headers, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import { ReplyAction, serveRequests, subjects } from "@impp/bus";
import { errorCodeOf, errorName, familyName, GlobalError, typeName } from "@impp/protocol";
import type { Telemetry } from "@impp/telemetry";
import { extractContext, isTracing, NO_SPAN, type Span, subjectLabel, withSpan } from "@impp/telemetry";
import type { CompiledRoute, FamilyModule, ModuleContext, Outcome, SessionNeed, Started } from "./module.js";
import { parseContext } from "./module.js";
import { asBuffer, errorReply, RequestFailure } from "./request.js";
import type { ParseContext } from "./schema.js";

/** Answers one request; the kit's dispatcher is one, a test's fake service another. */
export type RequestHandler = (req: RequestEnvelope) => Promise<Outcome>;

/** The reply of an outcome, and its follow-up work if any. */
export function splitOutcome(o: Outcome): { reply: ReplyEnvelope; after: (() => Promise<void>) | undefined } {
  return "reply" in o ? { reply: o.reply, after: o.after } : { reply: o, after: undefined };
}

/**
 * Whether the edge's deadline for `req` has passed (architecture.md, "Requests carry their
 * deadline"): the kit drops such requests unstarted, and a handler checks again right before its
 * first visible step (a delivery, a write) — refusing then is safe, nothing has happened yet.
 */
export function pastDeadline(req: RequestEnvelope, now: number): boolean {
  return req.deadline !== undefined && now > req.deadline;
}

/** Whether the session matches what a request type needs (else INVALID_STATE). */
export function sessionAllows(need: SessionNeed, req: RequestEnvelope): boolean {
  switch (need) {
    case "anonymous":
      return req.account === "";
    case "authenticated":
      return req.account !== "" && req.device === "";
    case "bound":
      return req.account !== "" && req.device !== "";
  }
}

/**
 * The dispatcher for one family: route by type (an unknown type is INVALID_TLV_VALUE, §2.5), check
 * the session, parse the declared shape (a malformed request gets the protocol's error), then run
 * the handler with the typed fields. Never throws: a handler's exception is SERVICE_UNAVAILABLE.
 */
export function dispatcher<State>(
  routes: readonly CompiledRoute<State>[],
  state: State,
  ctx: ParseContext,
  telemetry: Telemetry | undefined,
): RequestHandler {
  const byType = new Map<number, CompiledRoute<State>>();
  for (const r of routes) byType.set(r.type, r);
  // One async frame per request: the route, the checks, the handler and its exception (#13).
  return async (req) => {
    try {
      const r = byType.get(req.type);
      if (r === undefined) return errorReply(req, GlobalError.INVALID_TLV_VALUE);
      if (!sessionAllows(r.session, req)) return errorReply(req, GlobalError.INVALID_STATE);
      const fields = r.parse(asBuffer(req.block), req.family, ctx);
      if (fields instanceof RequestFailure) {
        telemetry?.logger.debug(
          {
            family: req.family,
            type: req.type,
            code: fields.code,
            reason: fields.reason,
            connId: req.connId,
          },
          "malformed request",
        );
        return errorReply(req, fields.code);
      }
      return await r.handle({ envelope: req, fields }, state);
    } catch (err) {
      return handlerFailed(req, telemetry, err);
    }
  };
}

/**
 * Runs a handler and then its follow-up work, returning the reply (for tests and callers that want
 * everything done before they look).
 */
export async function settle(handler: RequestHandler, req: RequestEnvelope): Promise<ReplyEnvelope> {
  const { reply, after } = splitOutcome(await handler(req));
  if (after !== undefined) await after();
  return reply;
}

/**
 * A handler's exception as the answer: SERVICE_UNAVAILABLE for this request (§2.5: a backend
 * failed) — logged, never a crash, never a request left without an answer.
 */
function handlerFailed(req: RequestEnvelope, telemetry: Telemetry | undefined, err: unknown): ReplyEnvelope {
  telemetry?.logger.error(
    { err, family: req.family, type: req.type, sequence: req.sequence, connId: req.connId },
    "request handler failed; answering SERVICE_UNAVAILABLE",
  );
  return errorReply(req, GlobalError.SERVICE_UNAVAILABLE);
}

/** The error code of a reply's first frame, for metrics; undefined for a response. */
export function replyErrorCode(frames: Uint8Array): number | undefined {
  return errorCodeOf(frames);
}

function withoutRecord(r: ReplyEnvelope): ReplyEnvelope {
  if ((r.actions & ReplyAction.DEVICE_RECORD) === 0) return r;
  const { record: _, ...rest } = r;
  return { ...rest, actions: r.actions & ~ReplyAction.DEVICE_RECORD };
}

export interface FamilyServer {
  /** Resolves once no request is under way (follow-up work included). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Subscribes subjects.request(family) in the family's queue group; `handler` must not throw. A
 * request whose deadline (the edge's clock, `clock` here: Date.now) has passed is answered
 * SERVICE_UNAVAILABLE without running the handler. The reply goes out first; the outcome's
 * follow-up work runs after it, still inside the request's span, and stop() waits for both.
 */
export function serveFamily(
  bus: Bus,
  telemetry: Telemetry,
  service: string,
  family: number,
  handler: RequestHandler,
  clock?: () => number,
): FamilyServer {
  // Requests under way: a count and who waits for it to reach 0, not a promise chained per
  // request to a set (three promises and a closure per message on the IM path, #13).
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];
  const familyLabel = familyName(family);
  // The labelled child once, not a label lookup per request.
  const duration = telemetry.metrics.requestDuration.labels(familyLabel, service);
  const tracing = isTracing(telemetry.tracer);
  const errors = telemetry.metrics.errors;
  const expired = telemetry.metrics.requestsExpired;
  const now = clock ?? Date.now;

  const work = async (
    req: RequestEnvelope,
    respond: (reply: ReplyEnvelope) => void,
    span: Span,
    started: number,
  ): Promise<void> => {
    let outcome: Outcome;
    try {
      outcome = await handler(req);
    } catch (err) {
      outcome = handlerFailed(req, telemetry, err);
    }
    const { reply, after } = splitOutcome(outcome);
    // An edge that sends no deadline is older than the DEVICE_RECORD action: it would refuse it.
    const r = req.deadline === undefined ? withoutRecord(reply) : reply;
    const code = replyErrorCode(r.frames);
    if (code !== undefined) {
      span.setAttribute("impp.error", errorName(family, code));
      errors.inc({ family: familyLabel, code: errorName(family, code) });
    }
    respond(r);
    duration.observe((performance.now() - started) / 1000);
    // Answer first, then the follow-up: the requester does not wait for it.
    if (after !== undefined) {
      try {
        await after();
      } catch (err) {
        telemetry.logger.error(
          { err, family: req.family, type: req.type, connId: req.connId },
          "follow-up work after the reply failed",
        );
      }
    }
  };

  const serve = async (
    req: RequestEnvelope,
    headers: Headers | undefined,
    respond: (reply: ReplyEnvelope) => void,
  ): Promise<void> => {
    if (pastDeadline(req, now())) {
      // The edge has given up on it (or will have before this reply could matter) and told the
      // client SERVICE_UNAVAILABLE: doing it now would make a failure reported to the client
      // succeed after all (a resend then duplicates). Dropped before anything visible happens.
      expired.inc({ family: familyLabel });
      telemetry.logger.warn(
        {
          family: req.family,
          type: req.type,
          sequence: req.sequence,
          connId: req.connId,
          edgeId: req.edgeId,
          lateMs: now() - (req.deadline ?? 0),
        },
        "request past its deadline dropped",
      );
      respond(errorReply(req, GlobalError.SERVICE_UNAVAILABLE));
      return;
    }
    inflight++;
    try {
      const started = performance.now();
      // Without an exporter no span is made at all: no name, attributes or context per request.
      if (!tracing) await work(req, respond, NO_SPAN, started);
      else
        await withSpan(
          telemetry.tracer,
          `${service} ${familyLabel} ${typeName(family, req.type)}`,
          extractContext(headers),
          {
            "impp.family": req.family,
            "impp.type": req.type,
            "impp.sequence": req.sequence,
            "impp.edge": req.edgeId,
            "impp.conn": req.connId,
          },
          (span) => work(req, respond, span, started),
        );
    } catch (err) {
      telemetry.logger.error({ err, family: req.family, type: req.type }, "request processing failed");
      telemetry.metrics.busHandlerErrors.inc({ subject: subjectLabel(subjects.request(family)) });
    } finally {
      if (--inflight === 0 && idleWaiters.length > 0) {
        const waiting = idleWaiters;
        idleWaiters = [];
        for (const wake of waiting) wake();
      }
    }
  };

  const idle = (): Promise<void> =>
    inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));

  const sub = serveRequests(bus, family, serve, {
    onUndecodable: (err, subject) =>
      telemetry.logger.warn({ err, subject }, "undecodable request envelope dropped"),
    onError: (err, subject) => telemetry.logger.error({ err, subject }, "request processing failed"),
    unencodable: (req, err) => {
      telemetry.logger.error({ err }, "reply could not be encoded; answering SERVICE_UNAVAILABLE");
      return errorReply(req, GlobalError.SERVICE_UNAVAILABLE);
    },
  });

  return {
    idle,
    async stop() {
      sub.unsubscribe();
      await idle();
    },
  };
}

/** A module started and serving its families. */
export interface ServedModule<State> {
  readonly module: FamilyModule<State>;
  readonly started: Started<State>;
  /** Resolves once the requests under way now, follow-up work included, have finished (tests). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a module (gen_mod's start) and serves each family it declares. Stop stops serving first,
 * waits for requests and their follow-up work, then stops the module's own work.
 */
export async function startModule<State>(
  module: FamilyModule<State>,
  ctx: ModuleContext,
): Promise<ServedModule<State>> {
  if (module.needs?.store === true && ctx.store === undefined) {
    throw new Error(`module ${module.role} needs the store, and none was opened`);
  }
  const started = await module.start(ctx);
  const parse = parseContext(ctx.config);
  const servers = (module.families ?? []).map((f) =>
    serveFamily(
      ctx.bus,
      ctx.telemetry,
      module.role,
      f.family,
      dispatcher(f.routes, started.state, parse, ctx.telemetry),
    ),
  );
  return {
    module,
    started,
    async idle() {
      await Promise.all(servers.map((s) => s.idle()));
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      await started.stop?.();
    },
  };
}

/** In-process dispatch of a module's family (tests, tools): what serveFamily would run for `req`. */
export function moduleHandler<State>(
  module: FamilyModule<State>,
  family: number,
  state: State,
  ctx: { config: { domain: string }; telemetry?: Telemetry },
): RequestHandler {
  const f = module.families?.find((x) => x.family === family);
  if (f === undefined) throw new Error(`module ${module.role} does not serve family ${family}`);
  return dispatcher(f.routes, state, parseContext(ctx.config), ctx.telemetry);
}
