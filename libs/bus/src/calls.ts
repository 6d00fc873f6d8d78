// The two calls edges and services make of each other, typed: an edge's request to the service of
// a family (RequestEnvelope → ReplyEnvelope) and a service's delivery to an edge (DeliveryEnvelope →
// DeliveryAck). Transport, protocol and facade kept apart, as in nats.js: the Bus moves bytes,
// envelope.ts encodes them, this file is what edges and services call.
//
// Over NATS every call is an encoded envelope on the bus. In one process (the in-process bus) a
// call to a server registered here in the same process is a direct call on the envelope object
// (in the next check phase, batched, as the bus delivers): no encode or decode, no inbox
// subscription, no header map (#13: the four envelopes per message cost ~9 % of the embedded IM
// path). A call that no server registered here can take goes over the
// bus encoded, and a server registered here also answers encoded calls on the bus, so a stand-in
// subscribed on the bus (tests) and raw bus requests still work. Both paths pass one contract suite
// (calls-contract.ts).
import { type Bus, BusError, type Headers, type Subscription } from "./bus.js";
import {
  type DeliveryAck,
  type DeliveryEnvelope,
  decodeDelivery,
  decodeDeliveryAck,
  decodeReply,
  decodeRequest,
  type EnvelopeError,
  encodeDelivery,
  encodeDeliveryAck,
  encodeReply,
  encodeRequest,
  isEnvelopeError,
  type ReplyEnvelope,
  type RequestEnvelope,
} from "./envelope.js";
import { subjects } from "./subjects.js";

export interface CallOptions {
  timeoutMs: number;
  /** Trace context; undefined when nothing is traced (the usual case: nothing to carry). */
  headers?: Headers | undefined;
}

/**
 * Serves one request. Calls `respond` exactly once, as soon as the reply is known, and may go on
 * with follow-up work afterwards (the returned promise covers both). An undefined reply sends
 * nothing: the requester times out (an envelope that cannot be answered).
 */
export type RequestServer = (
  req: RequestEnvelope,
  headers: Headers | undefined,
  respond: (reply: ReplyEnvelope) => void,
) => Promise<void>;

/** Serves one delivery: how many connections took it (the ack). Never throws. */
export type DeliveryServer = (
  env: DeliveryEnvelope,
  headers: Headers | undefined,
) => number | Promise<number>;

export interface ServeOptions {
  /**
   * A reply that cannot be encoded for the bus (a field past its wire limit): what to send instead.
   * Default: nothing (the requester times out). Direct calls hand the reply over as it is.
   */
  unencodable?: (req: RequestEnvelope, error: unknown) => ReplyEnvelope;
  /** An envelope that does not decode (from another process: hostile or a version skew). */
  onUndecodable: (error: EnvelopeError, subject: string) => void;
  /** A server that threw or rejected (contained, never a crash). */
  onError: (error: unknown, subject: string) => void;
}

// ------------------------------------------------------------------ in-process servers

/** A server registered in this process, with where its failures are reported. */
interface Local<S> {
  readonly serve: S;
  readonly onError: ServeOptions["onError"];
}

interface LocalTable {
  closed: boolean;
  readonly services: Map<number, Local<RequestServer>[]>;
  readonly edges: Map<string, Local<DeliveryServer>>;
}

const tables = new WeakMap<Bus, LocalTable>();

/** The in-process servers of `bus`; only the in-process bus has any (over NATS nothing is local). */
function localTable(bus: Bus): LocalTable | undefined {
  if (bus.kind !== "memory") return undefined;
  let t = tables.get(bus);
  if (t === undefined) {
    t = { closed: false, services: new Map(), edges: new Map() };
    tables.set(bus, t);
  }
  return t;
}

/** The in-process bus closed: direct calls fail CLOSED from now on, as its requests do. */
export function closeLocalCalls(bus: Bus): void {
  const t = tables.get(bus);
  if (t !== undefined) t.closed = true;
}

/**
 * Direct calls waiting for the check phase, run together by one setImmediate — as the in-process
 * bus delivers its queue. Not a microtask: a flood of requests (a pipelining client) answered on
 * microtasks would keep the event loop from ever reading other sockets, including the clients
 * that must read the answers (their unread output then cuts them off as slow readers).
 */
let queued: (() => void)[] = [];
let scheduled = false;
function runQueued(): void {
  scheduled = false;
  const batch = queued;
  queued = [];
  for (const run of batch) run();
}

/**
 * Runs `call` in the next check phase (never inside the caller's stack: a delivery must not write
 * to a connection in the middle of that connection's own frame handling) and settles with what it
 * answers, or TIMEOUT after timeoutMs — the in-process bus's request semantics without the bus.
 */
function direct<T>(
  subject: string,
  timeoutMs: number,
  onError: ServeOptions["onError"],
  call: (answer: (value: T) => void) => unknown,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(
      () => {
        if (done) return;
        done = true;
        reject(new BusError("TIMEOUT", `request to ${subject} timed out after ${timeoutMs} ms`));
      },
      Math.max(1, timeoutMs),
    );
    const answer = (value: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    queued.push(() => {
      try {
        const r = call(answer);
        if (r instanceof Promise) r.catch((e: unknown) => onError(e, subject));
      } catch (e) {
        onError(e, subject);
      }
    });
    if (!scheduled) {
      scheduled = true;
      setImmediate(runQueued);
    }
  });
}

/** A call over the bus: encode (a failure rejects), request, decode the answer. */
function encodedCall<T>(
  bus: Bus,
  subject: string,
  encode: () => Buffer,
  decode: (b: Uint8Array) => T | EnvelopeError,
  opts: CallOptions,
): Promise<T | EnvelopeError> {
  let data: Buffer;
  try {
    data = encode();
  } catch (e) {
    return Promise.reject(e);
  }
  return bus
    .request(subject, data, { timeoutMs: opts.timeoutMs, headers: opts.headers })
    .then((msg) => decode(msg.data));
}

function pick<T>(list: readonly T[] | undefined): T | undefined {
  if (list === undefined || list.length === 0) return undefined;
  // Random, as a NATS queue group picks.
  return list.length === 1 ? list[0] : list[Math.floor(Math.random() * list.length)];
}

// ------------------------------------------------------------------ edge → service

/**
 * Sends one client request to its family's service and resolves with the reply (an EnvelopeError
 * when the reply does not decode). Rejects with BusError NO_RESPONDERS, TIMEOUT, CLOSED or CONNECTION.
 */
export function requestService(
  bus: Bus,
  req: RequestEnvelope,
  opts: CallOptions,
): Promise<ReplyEnvelope | EnvelopeError> {
  const local = localTable(bus);
  const server = local === undefined ? undefined : pick(local.services.get(req.family));
  if (server !== undefined) {
    if (local!.closed) return Promise.reject(new BusError("CLOSED", "bus is closed"));
    // The service owns what it is given: the block is a view into a socket chunk, copied as the
    // encoded envelope would have copied it (a stored message must not pin a 64 KiB chunk).
    const own: RequestEnvelope = { ...req, block: Buffer.from(req.block) };
    return direct<ReplyEnvelope>(subjects.request(req.family), opts.timeoutMs, server.onError, (answer) =>
      server.serve(own, opts.headers, answer),
    );
  }
  return encodedCall(bus, subjects.request(req.family), () => encodeRequest(req), decodeReply, opts);
}

/**
 * Serves a family's requests in its queue group: in-process callers call `server` directly; encoded
 * requests on the bus are decoded, served, and answered encoded.
 */
export function serveRequests(
  bus: Bus,
  family: number,
  server: RequestServer,
  opts: ServeOptions,
): Subscription {
  const subject = subjects.request(family);
  const sub = bus.subscribe(
    subject,
    (msg) => {
      const req = decodeRequest(msg.data);
      if (isEnvelopeError(req)) {
        // Nothing to echo an error on: the edge's own timeout answers the client.
        opts.onUndecodable(req, msg.subject);
        return;
      }
      return server(req, msg.headers, (reply) => {
        let bytes: Buffer;
        try {
          bytes = encodeReply(reply);
        } catch (e) {
          if (opts.unencodable === undefined) throw e;
          bytes = encodeReply(opts.unencodable(req, e));
        }
        msg.respond(bytes);
      });
    },
    { queue: subjects.serviceQueue(family) },
  );
  const local = localTable(bus);
  if (local === undefined) return sub;
  const entry: Local<RequestServer> = { serve: server, onError: opts.onError };
  const list = local.services.get(family) ?? [];
  list.push(entry);
  local.services.set(family, list);
  return alsoLocal(sub, () => {
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
  });
}

/** The bus subscription, and the in-process registration taken back with it. */
function alsoLocal(sub: Subscription, unregister: () => void): Subscription {
  return {
    subject: sub.subject,
    unsubscribe() {
      sub.unsubscribe();
      unregister();
    },
  };
}

// ------------------------------------------------------------------ service → edge

/**
 * Sends one delivery to one edge and resolves with its ack (an EnvelopeError when the ack does not
 * decode). Rejects with BusError NO_RESPONDERS, TIMEOUT, CLOSED or CONNECTION.
 */
export function deliverToEdge(
  bus: Bus,
  edgeId: string,
  env: DeliveryEnvelope,
  opts: CallOptions,
): Promise<DeliveryAck | EnvelopeError> {
  const local = localTable(bus);
  const server = local?.edges.get(edgeId);
  if (server !== undefined) {
    if (local!.closed) return Promise.reject(new BusError("CLOSED", "bus is closed"));
    return direct<DeliveryAck>(subjects.edge(edgeId), opts.timeoutMs, server.onError, (answer) => {
      const n = server.serve(env, opts.headers);
      if (typeof n === "number") answer({ delivered: n });
      else return n.then((delivered) => answer({ delivered }));
    });
  }
  return encodedCall(bus, subjects.edge(edgeId), () => encodeDelivery(env), decodeDeliveryAck, opts);
}

/** The ack of a liveness probe (an empty message on an edge's subject; incarnations.ts). */
const PROBE_ACK = encodeDeliveryAck({ delivered: 0 });

/**
 * Serves deliveries addressed to `edgeId`: in-process callers call `server` directly; encoded ones
 * on the bus are decoded and acked encoded (an undecodable one is acked 0). An empty message is a
 * liveness probe: acked at once with 0, so a starting sibling sees this edge alive.
 */
export function serveDeliveries(
  bus: Bus,
  edgeId: string,
  server: DeliveryServer,
  opts: ServeOptions,
): Subscription {
  const subject = subjects.edge(edgeId);
  const sub = bus.subscribe(subject, (msg) => {
    if (msg.data.length === 0) {
      msg.respond(PROBE_ACK);
      return;
    }
    const env = decodeDelivery(msg.data);
    if (isEnvelopeError(env)) {
      opts.onUndecodable(env, msg.subject);
      msg.respond(PROBE_ACK);
      return;
    }
    const n = server(env, msg.headers);
    if (typeof n === "number") msg.respond(encodeDeliveryAck({ delivered: n }));
    else return n.then((delivered) => void msg.respond(encodeDeliveryAck({ delivered })));
  });
  const local = localTable(bus);
  if (local === undefined) return sub;
  const entry: Local<DeliveryServer> = { serve: server, onError: opts.onError };
  local.edges.set(edgeId, entry);
  return alsoLocal(sub, () => {
    if (local.edges.get(edgeId) === entry) local.edges.delete(edgeId);
  });
}
