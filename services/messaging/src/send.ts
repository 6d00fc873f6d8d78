// IM MESSAGE_SEND (PROTOCOL.md §4.4): routing to the recipient's devices and copies to the
// sender's other devices. The hot path: one session read, one encoded indication, one delivery
// per edge, no JSON. The request's TLVs are declared once (messageSendShape) and checked by the kit.
import type { Bus } from "@impp/bus";
import type { Config } from "@impp/config";
import { Family, Flags, GlobalError, ImError, ImTlv, ImType, TlvWriter } from "@impp/protocol";
import { blockedEitherWay, type RelationsCache } from "@impp/roster";
import {
  type DeliveryOutcome,
  deliverToAccount,
  deliveryTimeout,
  errorReply,
  type Fields,
  type Outcome,
  pastDeadline,
  type Request,
  responseFrame,
  route,
  type Shape,
} from "@impp/service-kit";
import type { ReadonlyDevice, SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";
import { fitsInResponse, isStorable, type Offline, offlineRoutes } from "./offline.js";

/** §4.4 [decision]: MESSAGE_ID is opaque, 1–16 bytes. */
export const MAX_MESSAGE_ID_BYTES = 16;
/** §6 */
export const MAX_MESSAGE_SIZE = 1024 * 1024;
/** §6 */
export const MAX_MESSAGE_CHUNK_BYTES = 64 * 1024;
/** §4.4: core 1–16383, extensions 16384–32767; 0 and the MSB are no capability. */
export const MAX_CAPABILITY = 0x7fff;

export interface MessagingDeps {
  bus: Bus;
  sessions: SessionStore;
  /** The sender's contacts and blocks (the roster manager's cached read side). */
  relations: RelationsCache;
  config: Pick<Config, "domain" | "limits">;
  telemetry?: Telemetry;
  /** The offline store; without it nothing is stored and an undelivered message is SERVICE_UNAVAILABLE. */
  offline?: Offline;
  /** Server clock in ms (tests); default Date.now. */
  now?: () => number;
  /** How long to wait for an edge's ack. Default: half the edge's request timeout, at most 2 s. */
  deliveryTimeoutMs?: number;
}

/** MESSAGE_SEND's TLVs (§4.4, limits §6), checked by the kit before the handler runs. */
export const messageSendShape = {
  to: { tlv: ImTlv.TO, kind: "address", required: true },
  capability: {
    tlv: ImTlv.CAPABILITY,
    kind: "u16",
    required: true,
    min: 1,
    max: MAX_CAPABILITY,
    invalid: ImError.INVALID_CAPABILITY,
  },
  messageId: {
    tlv: ImTlv.MESSAGE_ID,
    kind: "bytes",
    required: true,
    minBytes: 1,
    maxBytes: MAX_MESSAGE_ID_BYTES,
  },
  messageSize: { tlv: ImTlv.MESSAGE_SIZE, kind: "u32", max: MAX_MESSAGE_SIZE },
  chunk: { tlv: ImTlv.MESSAGE_CHUNK, kind: "bytes", maxBytes: MAX_MESSAGE_CHUNK_BYTES },
  /** Relayed as received (8 bytes), never re-encoded. */
  createdAt: { tlv: ImTlv.CREATED_AT, kind: "bytes", length: 8 },
} as const satisfies Shape;

type Message = Fields<typeof messageSendShape>;

/** The MESSAGE_SEND indication, encoded once for every delivery of this message. */
function indication(from: string, m: Message, timestamp: number): Buffer {
  const w = new TlvWriter(96 + m.messageId.length + (m.chunk?.length ?? 0));
  w.string(ImTlv.FROM, from).string(ImTlv.TO, m.to).u16(ImTlv.CAPABILITY, m.capability);
  w.bytes(ImTlv.MESSAGE_ID, m.messageId);
  if (m.messageSize !== undefined) w.u32(ImTlv.MESSAGE_SIZE, m.messageSize);
  if (m.chunk !== undefined) w.bytes(ImTlv.MESSAGE_CHUNK, m.chunk);
  if (m.createdAt !== undefined) w.bytes(ImTlv.CREATED_AT, m.createdAt);
  w.u64(ImTlv.TIMESTAMP, timestamp);
  return w.frame({ flags: Flags.INDICATION, family: Family.IM, type: ImType.MESSAGE_SEND, sequence: 0 });
}

/** One delivery per edge holding at least one of `targets`. */
function deliverAll(
  deps: MessagingDeps,
  account: string,
  targets: readonly ReadonlyDevice[],
  except: string | undefined,
  capability: number,
  frames: Buffer,
): Promise<DeliveryOutcome[]> {
  return deliverToAccount(deps.bus, {
    account,
    devices: targets,
    except,
    capability,
    frames,
    timeoutMs: deliveryTimeout(deps.config, deps.deliveryTimeoutMs),
  });
}

function logFailures(deps: MessagingDeps, outcomes: readonly DeliveryOutcome[], what: string): number {
  let delivered = 0;
  for (const o of outcomes) {
    if (o.ok) delivered += o.delivered;
    else deps.telemetry?.logger.warn({ err: o.error, edgeId: o.edgeId }, `${what} not delivered`);
  }
  return delivered;
}

/**
 * Stores a message nobody capable got (store before ok, §4.4). The answer: the TIMESTAMP it is
 * stored under, or the error for the sender. TYPING is not stored: it is answered as sent.
 */
async function storeOffline(
  deps: MessagingDeps,
  from: string,
  m: Message,
  timestamp: number,
): Promise<{ timestamp: number; stored: boolean } | { error: number }> {
  if (!isStorable(m.capability)) return { timestamp, stored: false };
  const offline = deps.offline;
  if (offline === undefined) return { error: GlobalError.SERVICE_UNAVAILABLE };
  const msg = {
    from,
    to: m.to,
    capability: m.capability,
    messageId: m.messageId,
    messageSize: m.messageSize,
    chunk: m.chunk,
    createdAt: m.createdAt,
    timestamp,
  };
  // Too big to ever come back in one OFFLINE_MESSAGES_GET response (a small IMPP_MAX_BLOCK).
  if (!fitsInResponse(msg, deps.config.limits.maxBlockSize))
    return { error: GlobalError.SERVICE_UNAVAILABLE };
  const out = await offline.store(msg);
  if (out.ok) {
    deps.telemetry?.metrics.deliveries.inc({ result: out.duplicate ? "stored_duplicate" : "stored" });
    if (!out.duplicate) deps.telemetry?.metrics.offlineStored.inc();
    return { timestamp: out.timestamp, stored: true };
  }
  deps.telemetry?.metrics.deliveries.inc({ result: `offline_${out.reason}` });
  // No such account: the TO is not a valid value. Over the recipient's cap: refused, nothing dropped.
  return {
    error: out.reason === "no_account" ? GlobalError.INVALID_TLV_VALUE : GlobalError.SERVICE_UNAVAILABLE,
  };
}

async function messageSend(req: Request<typeof messageSendShape>, deps: MessagingDeps): Promise<Outcome> {
  const env = req.envelope;
  const m = req.fields;
  if (!env.capabilities.includes(m.capability)) return errorReply(env, ImError.INVALID_CAPABILITY);
  const from = env.account;
  const self = m.to === from;
  const timestamp = (deps.now ?? Date.now)();

  // One round trip for both accounts' devices and the sender's list token (the budget: one session
  // read per message); the sender's relations are then a cache lookup while their lists are unchanged.
  const { devices: lists, tokens } = await deps.sessions.getDevicesAndListTokens(
    self ? [from] : [m.to, from],
    [from],
  );
  if (!self) {
    const [rel] = await deps.relations.get([from], tokens);
    // §4.4: either side blocking the other, then the recipient not being my contact.
    if (blockedEitherWay(rel!, m.to)) return errorReply(env, ImError.USERNAME_BLOCKED);
    if (!rel!.contacts.has(m.to)) return errorReply(env, ImError.USERNAME_NOT_CONTACT);
  }
  const capable = (d: ReadonlyDevice) =>
    d.capabilities.includes(m.capability) && !(d.account === from && d.name === env.device);
  const recipients = (lists[0] ?? []).filter(capable);
  const copies = self ? [] : (lists[1] ?? []).filter(capable);
  // The reads are done and nothing visible has happened: if the edge's deadline passed meanwhile
  // (the process stalled), refuse now rather than deliver or store a message the sender may
  // already have been told failed.
  if (pastDeadline(env, (deps.now ?? Date.now)())) {
    deps.telemetry?.metrics.requestsExpired.inc({ family: "IM" });
    return errorReply(env, GlobalError.SERVICE_UNAVAILABLE);
  }
  if (recipients.length === 0) {
    deps.telemetry?.metrics.deliveries.inc({ result: "no_device" });
    const stored = await storeOffline(deps, from, m, timestamp);
    if ("error" in stored) return errorReply(env, stored.error);
    return answer(deps, env, m, from, stored.stored ? copies : [], stored.timestamp);
  }

  const frames = indication(from, m, timestamp);
  const delivered = logFailures(
    deps,
    await deliverAll(deps, m.to, recipients, self ? env.device : undefined, m.capability, frames),
    "message",
  );
  if (delivered === 0) {
    // The bounce path: every recipient device left between the read and the delivery (or its edge
    // died, or did not ack in time). The message goes to the offline store instead.
    deps.telemetry?.metrics.deliveries.inc({ result: "not_delivered" });
    const stored = await storeOffline(deps, from, m, timestamp);
    if ("error" in stored) return errorReply(env, stored.error);
    return answer(deps, env, m, from, stored.stored ? copies : [], stored.timestamp);
  }
  deps.telemetry?.metrics.deliveries.inc({ result: "online" });
  return answer(deps, env, m, from, copies, timestamp, frames);
}

/**
 * The sender's response, and the copies to the sender's other devices — only for a message that was
 * delivered or stored, so nobody sees a message whose sending failed; after the response, which need
 * not wait for them. Their failures are logged, not the sender's problem.
 */
function answer(
  deps: MessagingDeps,
  env: Request<typeof messageSendShape>["envelope"],
  m: Message,
  from: string,
  copies: readonly ReadonlyDevice[],
  timestamp: number,
  frames?: Buffer,
): Outcome {
  const body = new TlvWriter(48).bytes(ImTlv.MESSAGE_ID, m.messageId).u64(ImTlv.TIMESTAMP, timestamp);
  const reply = { actions: 0, frames: responseFrame(env, body) };
  if (copies.length === 0) return reply;
  const copy = frames ?? indication(from, m, timestamp);
  return {
    reply,
    after: async () => {
      logFailures(deps, await deliverAll(deps, from, copies, env.device, m.capability, copy), "message copy");
    },
  };
}

/** IM (family 4): MESSAGE_SEND here, OFFLINE_MESSAGES_GET / DELETE in offline.ts. */
export const imRoutes = [
  ...offlineRoutes,
  route({ type: ImType.MESSAGE_SEND, session: "bound", shape: messageSendShape, handle: messageSend }),
];
