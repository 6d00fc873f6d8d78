// The bus side of a service: decode the envelope, continue the trace, run the handler, reply.
import type { Bus, BusMessage, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import { decodeRequest, encodeReply, isEnvelopeError, subjects } from "@impp/bus";
import { errorName, Flags, familyName, GlobalError, typeName } from "@impp/protocol";
import type { Telemetry } from "@impp/telemetry";
import { extractContext, withSpan } from "@impp/telemetry";
import { errorReply } from "./request.js";

export type RequestHandler = (req: RequestEnvelope) => Promise<ReplyEnvelope>;

/**
 * Runs `handler`, turning an exception into SERVICE_UNAVAILABLE for this request (§2.5: a backend
 * failed) — logged, never a crash, never a request left without an answer.
 */
export async function safely(
  req: RequestEnvelope,
  telemetry: Telemetry | undefined,
  handler: RequestHandler,
): Promise<ReplyEnvelope> {
  try {
    return await handler(req);
  } catch (err) {
    telemetry?.logger.error(
      { err, family: req.family, type: req.type, sequence: req.sequence, connId: req.connId },
      "request handler failed; answering SERVICE_UNAVAILABLE",
    );
    return errorReply(req, GlobalError.SERVICE_UNAVAILABLE);
  }
}

/** The error code of a reply's first frame, for metrics; undefined for a response. */
export function replyErrorCode(frames: Uint8Array): number | undefined {
  if (frames.length < 22 || (frames[3]! & Flags.ERROR) === 0) return undefined;
  return (frames[20]! << 8) | frames[21]!;
}

export interface FamilyServer {
  stop(): Promise<void>;
}

/** Subscribes subjects.request(family) in the family's queue group; `handler` must not throw. */
export function serveFamily(
  bus: Bus,
  telemetry: Telemetry,
  service: string,
  family: number,
  handler: RequestHandler,
): FamilyServer {
  const inflight = new Set<Promise<void>>();
  const familyLabel = familyName(family);
  const duration = telemetry.metrics.requestDuration;
  const errors = telemetry.metrics.errors;

  const onMessage = async (msg: BusMessage): Promise<void> => {
    const req = decodeRequest(msg.data);
    if (isEnvelopeError(req)) {
      // Nothing to echo an error on: the edge's own timeout answers the client.
      telemetry.logger.warn({ err: req, subject: msg.subject }, "undecodable request envelope dropped");
      return;
    }
    const started = process.hrtime.bigint();
    const reply = await withSpan(
      telemetry.tracer,
      `${service} ${familyLabel} ${typeName(family, req.type)}`,
      extractContext(msg.headers),
      {
        "impp.family": req.family,
        "impp.type": req.type,
        "impp.sequence": req.sequence,
        "impp.edge": req.edgeId,
        "impp.conn": req.connId,
      },
      async (span) => {
        const r = await safely(req, telemetry, handler);
        const code = replyErrorCode(r.frames);
        if (code !== undefined) {
          span.setAttribute("impp.error", errorName(family, code));
          errors.inc({ family: familyLabel, code: errorName(family, code) });
        }
        return r;
      },
    );
    let bytes: Uint8Array;
    try {
      bytes = encodeReply(reply);
    } catch (err) {
      telemetry.logger.error({ err }, "reply could not be encoded; answering SERVICE_UNAVAILABLE");
      bytes = encodeReply(errorReply(req, GlobalError.SERVICE_UNAVAILABLE));
    }
    msg.respond(bytes);
    duration.observe({ family: familyLabel, service }, Number(process.hrtime.bigint() - started) / 1e9);
  };

  const sub = bus.subscribe(
    subjects.request(family),
    (msg) => {
      const p = onMessage(msg).catch((err: unknown) => {
        telemetry.logger.error({ err, subject: msg.subject }, "request processing failed");
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      return p;
    },
    { queue: subjects.serviceQueue(family) },
  );

  return {
    async stop() {
      sub.unsubscribe();
      await Promise.allSettled([...inflight]);
    },
  };
}
