// IM MESSAGE_SEND (PROTOCOL.md §4.4): routing to the recipient's devices and copies to the
// sender's other devices. The hot path: one session read, one encoded indication, one delivery
// per edge, no JSON.
import type { Bus, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import type { Config } from "@impp/config";
import {
  Family,
  Flags,
  GlobalError,
  ImError,
  ImTlv,
  ImType,
  ProtocolError,
  TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import {
  asBuffer,
  type DeliveryOutcome,
  deliverToAccount,
  errorReply,
  fromProtocolError,
  invalidValue,
  isFailure,
  RequestFailure,
  responseFrame,
} from "@impp/service-kit";
import type { DeviceRecord, SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";
import { normalizeAddress } from "./address.js";

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
  config: Pick<Config, "domain" | "limits">;
  telemetry?: Telemetry;
  /** Server clock in ms (tests); default Date.now. */
  now?: () => number;
  /** How long to wait for an edge's ack. Default: half the edge's request timeout, at most 2 s. */
  deliveryTimeoutMs?: number;
}

interface Message {
  to: string;
  capability: number;
  messageId: Buffer;
  messageSize: number | undefined;
  chunk: Buffer | undefined;
  /** Relayed as received (8 bytes), never re-encoded. */
  createdAt: Buffer | undefined;
}

function readMessage(block: TlvBlock, req: RequestEnvelope, domain: string): Message | RequestFailure {
  const toText = block.string(ImTlv.TO);
  if (toText instanceof ProtocolError) return fromProtocolError(toText);
  if (toText === undefined) return invalidValue("TO is missing");
  const to = normalizeAddress(toText, domain);
  if (to === undefined) return invalidValue("TO is not an address of this server");

  const capability = block.u16(ImTlv.CAPABILITY);
  if (capability instanceof ProtocolError) return fromProtocolError(capability);
  if (capability === undefined) return invalidValue("CAPABILITY is missing");
  if (capability < 1 || capability > MAX_CAPABILITY) {
    return new RequestFailure(ImError.INVALID_CAPABILITY, `capability ${capability} is not a valid value`);
  }
  if (!req.capabilities.includes(capability)) {
    return new RequestFailure(
      ImError.INVALID_CAPABILITY,
      `capability ${capability} was not declared by the device`,
    );
  }

  const messageId = block.first(ImTlv.MESSAGE_ID);
  if (messageId === undefined) return invalidValue("MESSAGE_ID is missing");
  if (messageId.length === 0 || messageId.length > MAX_MESSAGE_ID_BYTES) {
    return invalidValue(`MESSAGE_ID must be 1–${MAX_MESSAGE_ID_BYTES} bytes`);
  }
  const messageSize = block.u32(ImTlv.MESSAGE_SIZE);
  if (messageSize instanceof ProtocolError) return fromProtocolError(messageSize);
  if (messageSize !== undefined && messageSize > MAX_MESSAGE_SIZE) {
    return invalidValue(`MESSAGE_SIZE is over ${MAX_MESSAGE_SIZE}`);
  }
  const chunk = block.first(ImTlv.MESSAGE_CHUNK);
  if (chunk !== undefined && chunk.length > MAX_MESSAGE_CHUNK_BYTES) {
    return invalidValue(`MESSAGE_CHUNK is over ${MAX_MESSAGE_CHUNK_BYTES} bytes`);
  }
  const createdAt = block.u64(ImTlv.CREATED_AT);
  if (createdAt instanceof ProtocolError) return fromProtocolError(createdAt);
  return {
    to,
    capability,
    messageId,
    messageSize,
    chunk,
    createdAt: createdAt === undefined ? undefined : block.first(ImTlv.CREATED_AT),
  };
}

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

function deliveryTimeout(deps: MessagingDeps): number {
  return (
    deps.deliveryTimeoutMs ??
    Math.min(2000, Math.max(50, Math.floor(deps.config.limits.requestTimeoutMs / 2)))
  );
}

/** One delivery per edge holding at least one of `targets`. */
function deliverAll(
  deps: MessagingDeps,
  account: string,
  targets: readonly DeviceRecord[],
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
    timeoutMs: deliveryTimeout(deps),
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

async function messageSend(req: RequestEnvelope, deps: MessagingDeps): Promise<ReplyEnvelope> {
  if (req.account === "" || req.device === "") return errorReply(req, GlobalError.INVALID_STATE);
  const block = TlvBlock.parse(asBuffer(req.block), Family.IM);
  if (block instanceof ProtocolError) return errorReply(req, block.errorCode);
  const m = readMessage(block, req, deps.config.domain);
  if (isFailure(m)) return errorReply(req, m.code);
  const from = req.account;
  const self = m.to === from;
  const timestamp = (deps.now ?? Date.now)();

  // One round trip for both accounts (the budget: one session read per message).
  const lists = await deps.sessions.getDevicesMany(self ? [from] : [m.to, from]);
  const capable = (d: DeviceRecord) =>
    d.capabilities.includes(m.capability) && !(d.account === from && d.name === req.device);
  const recipients = (lists[0] ?? []).filter(capable);
  const copies = self ? [] : (lists[1] ?? []).filter(capable);
  if (recipients.length === 0) {
    deps.telemetry?.metrics.deliveries.inc({ result: "no_device" });
    return errorReply(req, GlobalError.SERVICE_UNAVAILABLE);
  }

  const frames = indication(from, m, timestamp);
  const delivered = logFailures(
    deps,
    await deliverAll(deps, m.to, recipients, self ? req.device : undefined, m.capability, frames),
    "message",
  );
  if (delivered === 0) {
    // Every recipient device left between the read and the delivery. Offline storage comes later;
    // until then the sender must not hear ok for a message nobody got.
    deps.telemetry?.metrics.deliveries.inc({ result: "not_delivered" });
    return errorReply(req, GlobalError.SERVICE_UNAVAILABLE);
  }
  deps.telemetry?.metrics.deliveries.inc({ result: "online" });
  // Copies only once the recipient has it, so the sender's other devices never show a message whose
  // sending failed. Their failures are logged, not the sender's problem.
  if (copies.length > 0) {
    logFailures(deps, await deliverAll(deps, from, copies, req.device, m.capability, frames), "message copy");
  }
  const body = new TlvWriter(48).bytes(ImTlv.MESSAGE_ID, m.messageId).u64(ImTlv.TIMESTAMP, timestamp);
  return { actions: 0, frames: responseFrame(req, body) };
}

/** IM requests → reply. Throws only when a backend fails (the caller answers SERVICE_UNAVAILABLE). */
export function imRequest(req: RequestEnvelope, deps: MessagingDeps): Promise<ReplyEnvelope> {
  switch (req.type) {
    case ImType.MESSAGE_SEND:
      return messageSend(req, deps);
    default:
      // OFFLINE_MESSAGES_GET / DELETE arrive with the offline store; until then, as unknown.
      return Promise.resolve(errorReply(req, GlobalError.INVALID_TLV_VALUE));
  }
}
