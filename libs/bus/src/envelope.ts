// Binary envelopes carried on the bus between edges and services. They cross the
// network, so decoding is total: any bytes give an envelope or an EnvelopeError,
// never an exception, never a read out of bounds. No JSON on this path.
//
// Layout: u8 format version (1), u8 envelope kind, then the fields in order.
// Strings: u8 byte length + UTF-8. Lists: u16 count + u16 items. Blobs: u32 length
// + bytes (decoded as views into the input, not copies). Integers big-endian.
import {
  blobLen,
  checkInt,
  EnvelopeEncodeError,
  EnvelopeError,
  listLen,
  Reader,
  strLen,
  Writer,
} from "./wire.js";

export {
  checkInt,
  EnvelopeEncodeError,
  type EnvelopeEncodeErrorKind,
  EnvelopeError,
  type EnvelopeErrorKind,
  MAX_STRING_BYTES,
  Reader,
  strLen,
  Writer,
} from "./wire.js";

export const ENVELOPE_VERSION = 1;
/**
 * Requests are at version 2: a deadline follows the sequence number. Version-1 requests (from
 * edges of before) still decode, without a deadline; a request without a deadline is written as
 * version 1, so services of before still read it.
 */
export const REQUEST_VERSION = 2;

/** Second byte: which envelope this is, so a misrouted message fails loudly instead of misparsing. */
export const EnvelopeKind = {
  REQUEST: 1,
  REPLY: 2,
  DELIVERY: 3,
  DELIVERY_ACK: 4,
  /** A feature's event; 5 was the device-gone envelope, whose bytes the edge's event keeps. */
  EVENT: 5,
} as const;
export type EnvelopeKind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

const HEADER = 2;

function header(w: Writer, kind: EnvelopeKind, version = ENVELOPE_VERSION): void {
  w.u8(version);
  w.u8(kind);
}

function openEnvelope(b: Uint8Array, kind: EnvelopeKind): Reader | EnvelopeError {
  const opened = openVersioned(b, kind, ENVELOPE_VERSION);
  return opened instanceof EnvelopeError ? opened : opened.r;
}

function openVersioned(
  b: Uint8Array,
  kind: EnvelopeKind,
  maxVersion: number,
): { r: Reader; version: number } | EnvelopeError {
  if (!(b instanceof Uint8Array)) return new EnvelopeError("BAD_VALUE", "not bytes", 0);
  const r = new Reader(b);
  const version = r.u8("version");
  const k = r.u8("kind");
  if (r.error !== undefined) return r.error;
  // Kind first: a request of a newer version sent to a reply decoder is misrouted, not too new.
  if (k !== kind) return new EnvelopeError("BAD_KIND", `envelope kind ${k}, expected ${kind}`, 1);
  if (version < ENVELOPE_VERSION || version > maxVersion)
    return new EnvelopeError("BAD_VERSION", `envelope version ${version}`, 0);
  return { r, version };
}

export function isEnvelopeError(v: unknown): v is EnvelopeError {
  return v instanceof EnvelopeError;
}

// ---------------------------------------------------------------- request

/** edge → service (subject request(family)): the edge's view of one client request. */
export interface RequestEnvelope {
  /** IMPP TLV header flags (u16). */
  flags: number;
  family: number;
  type: number;
  sequence: number;
  connId: string;
  edgeId: string;
  /** "" before login. */
  account: string;
  /** "" before bind. */
  device: string;
  remoteAddress: string;
  /** The edge's public host:port (what SERVER TLVs announce). */
  server: string;
  /** Of the requesting device. */
  capabilities: readonly number[];
  /** The decompressed TLV block. */
  block: Uint8Array;
  /**
   * ms since the epoch (the edge's clock): after it the edge has stopped waiting, so the service
   * must not start the request (architecture.md, "Requests carry their deadline"). Absent in
   * version-1 envelopes: no deadline.
   */
  deadline?: number;
}

/** Deadlines are u48 ms since the epoch on the wire (good until the year 10889). */
const MAX_DEADLINE = 2 ** 48 - 1;

export function encodeRequest(e: RequestEnvelope): Buffer {
  checkInt("flags", e.flags, 0xffff);
  checkInt("family", e.family, 0xffff);
  checkInt("type", e.type, 0xffff);
  checkInt("sequence", e.sequence, 0xffffffff);
  const deadline = e.deadline;
  if (deadline !== undefined) checkInt("deadline", deadline, MAX_DEADLINE);
  const connId = strLen("connId", e.connId);
  const edgeId = strLen("edgeId", e.edgeId);
  const account = strLen("account", e.account);
  const device = strLen("device", e.device);
  const remote = strLen("remoteAddress", e.remoteAddress);
  const server = strLen("server", e.server);
  const size =
    HEADER +
    10 +
    (deadline === undefined ? 0 : 6) +
    6 +
    connId +
    edgeId +
    account +
    device +
    remote +
    server +
    listLen("capabilities", e.capabilities) +
    blobLen("block", e.block);
  const w = new Writer(size);
  header(w, EnvelopeKind.REQUEST, deadline === undefined ? ENVELOPE_VERSION : REQUEST_VERSION);
  w.u16(e.flags);
  w.u16(e.family);
  w.u16(e.type);
  w.u32(e.sequence);
  if (deadline !== undefined) {
    w.u16(Math.floor(deadline / 2 ** 32));
    w.u32(deadline % 2 ** 32);
  }
  w.str(e.connId, connId);
  w.str(e.edgeId, edgeId);
  w.str(e.account, account);
  w.str(e.device, device);
  w.str(e.remoteAddress, remote);
  w.str(e.server, server);
  w.u16List(e.capabilities);
  w.blob(e.block);
  return w.done();
}

export function decodeRequest(b: Uint8Array): RequestEnvelope | EnvelopeError {
  const opened = openVersioned(b, EnvelopeKind.REQUEST, REQUEST_VERSION);
  if (opened instanceof EnvelopeError) return opened;
  const { r, version } = opened;
  const flags = r.u16("flags");
  const family = r.u16("family");
  const type = r.u16("type");
  const sequence = r.u32("sequence");
  const deadline = version >= 2 ? r.u16("deadline") * 2 ** 32 + r.u32("deadline") : undefined;
  const e: RequestEnvelope = {
    flags,
    family,
    type,
    sequence,
    connId: r.str("connId"),
    edgeId: r.str("edgeId"),
    account: r.str("account"),
    device: r.str("device"),
    remoteAddress: r.str("remoteAddress"),
    server: r.str("server"),
    capabilities: r.u16List("capabilities"),
    block: r.blob("block"),
  };
  // Absent, not undefined: a decoded version-1 request compares equal to the one encoded.
  if (deadline !== undefined) e.deadline = deadline;
  return r.finish() ?? e;
}

// ---------------------------------------------------------------- reply

/** What the edge must do to the requesting connection besides writing the frames. */
export const ReplyAction = {
  CLOSE_AFTER: 0x01,
  SET_ACCOUNT: 0x02,
  SET_DEVICE: 0x04,
  SET_CAPABILITIES: 0x08,
  CLEAR_DEVICE: 0x10,
  /**
   * The bound device's registration as stored (an opaque blob: the session store's record
   * encoding), sent with BIND and UPDATE. The edge keeps it so it can re-register the device if the
   * live state loses it (Redis restarted empty). Only sent to edges whose requests carry a
   * deadline (envelope version 2): older edges do not know this bit.
   */
  DEVICE_RECORD: 0x20,
} as const;
const KNOWN_ACTIONS = 0x3f;

/** service → edge: the reply to a RequestEnvelope. */
export interface ReplyEnvelope {
  actions: number;
  /** Present exactly when actions has SET_ACCOUNT. */
  account?: string;
  /** Present exactly when actions has SET_DEVICE. */
  device?: string;
  /** Present exactly when actions has SET_CAPABILITIES. */
  capabilities?: readonly number[];
  /** Present exactly when actions has DEVICE_RECORD. */
  record?: Uint8Array;
  /** Zero or more complete, uncompressed IMPP frames to write to the requester, in order. */
  frames: Uint8Array;
}

function optionalField<T>(what: string, actions: number, bit: number, v: T | undefined): T | undefined {
  const set = (actions & bit) !== 0;
  if (set && v === undefined) throw new EnvelopeEncodeError("BAD_VALUE", `action needs ${what}`);
  if (!set && v !== undefined)
    throw new EnvelopeEncodeError("BAD_VALUE", `${what} given without its action bit`);
  return v;
}

export function encodeReply(e: ReplyEnvelope): Buffer {
  checkInt("actions", e.actions, KNOWN_ACTIONS);
  const account = optionalField("account", e.actions, ReplyAction.SET_ACCOUNT, e.account);
  const device = optionalField("device", e.actions, ReplyAction.SET_DEVICE, e.device);
  const caps = optionalField("capabilities", e.actions, ReplyAction.SET_CAPABILITIES, e.capabilities);
  const record = optionalField("record", e.actions, ReplyAction.DEVICE_RECORD, e.record);
  const accountLen = account === undefined ? 0 : strLen("account", account);
  const deviceLen = device === undefined ? 0 : strLen("device", device);
  const size =
    HEADER +
    1 +
    (account === undefined ? 0 : 1 + accountLen) +
    (device === undefined ? 0 : 1 + deviceLen) +
    (caps === undefined ? 0 : listLen("capabilities", caps)) +
    (record === undefined ? 0 : blobLen("record", record)) +
    blobLen("frames", e.frames);
  const w = new Writer(size);
  header(w, EnvelopeKind.REPLY);
  w.u8(e.actions);
  if (account !== undefined) w.str(account, accountLen);
  if (device !== undefined) w.str(device, deviceLen);
  if (caps !== undefined) w.u16List(caps);
  if (record !== undefined) w.blob(record);
  w.blob(e.frames);
  return w.done();
}

export function decodeReply(b: Uint8Array): ReplyEnvelope | EnvelopeError {
  const r = openEnvelope(b, EnvelopeKind.REPLY);
  if (r instanceof EnvelopeError) return r;
  const actions = r.u8("actions");
  if ((actions & ~KNOWN_ACTIONS) !== 0)
    r.fail("BAD_VALUE", `unknown reply actions 0x${actions.toString(16)}`);
  const account = actions & ReplyAction.SET_ACCOUNT ? r.str("account") : undefined;
  const device = actions & ReplyAction.SET_DEVICE ? r.str("device") : undefined;
  const capabilities = actions & ReplyAction.SET_CAPABILITIES ? r.u16List("capabilities") : undefined;
  const record = actions & ReplyAction.DEVICE_RECORD ? r.blob("record") : undefined;
  const frames = r.blob("frames");
  const error = r.finish();
  if (error !== undefined) return error;
  // Absent, not undefined: a decoded reply compares equal to the one encoded.
  const e: ReplyEnvelope = { actions, frames };
  if (account !== undefined) e.account = account;
  if (device !== undefined) e.device = device;
  if (capabilities !== undefined) e.capabilities = capabilities;
  if (record !== undefined) e.record = record;
  return e;
}

// ---------------------------------------------------------------- delivery

/** Which of the account's connections on the edge get a delivery. */
export const DeliveryFilter = { ALL: 0, ONLY_DEVICE: 1, EXCEPT_DEVICE: 2 } as const;
export type DeliveryFilter = (typeof DeliveryFilter)[keyof typeof DeliveryFilter];

/** service → edge (subject edge(edgeId), as a request: the edge answers with a DeliveryAck). */
export interface DeliveryEnvelope {
  account: string;
  /**
   * More accounts that get the same frames on this edge (a presence change or a group message
   * fanned out to many users: one delivery per edge, not one per user). The capability filter
   * applies to them too; the device filter names a device of `account` only, so they get every
   * connection.
   */
  others?: readonly string[];
  filter: number;
  /** The device the filter names; "" with ALL. */
  device: string;
  /** 0 = any; else only connections whose device declared it. */
  capability: number;
  /** Disconnect the matched connections after writing (UNBIND of another device, kick). */
  closeAfter: boolean;
  frames: Uint8Array;
}

export function encodeDelivery(e: DeliveryEnvelope): Buffer {
  checkInt("filter", e.filter, DeliveryFilter.EXCEPT_DEVICE);
  checkInt("capability", e.capability, 0xffff);
  const account = strLen("account", e.account);
  const device = strLen("device", e.device);
  const others = e.others ?? [];
  if (others.length > 0xffff)
    throw new EnvelopeEncodeError("TOO_LONG", `others has ${others.length} accounts`);
  const otherLens = others.map((o, i) => strLen(`others[${i}]`, o));
  let othersSize = 2;
  for (const n of otherLens) othersSize += 1 + n;
  const size = HEADER + 1 + account + 1 + 1 + device + 2 + 1 + othersSize + blobLen("frames", e.frames);
  const w = new Writer(size);
  header(w, EnvelopeKind.DELIVERY);
  w.str(e.account, account);
  w.u8(e.filter);
  w.str(e.device, device);
  w.u16(e.capability);
  w.u8(e.closeAfter ? 1 : 0);
  w.u16(others.length);
  for (let i = 0; i < others.length; i++) w.str(others[i]!, otherLens[i]!);
  w.blob(e.frames);
  return w.done();
}

export function decodeDelivery(b: Uint8Array): DeliveryEnvelope | EnvelopeError {
  const r = openEnvelope(b, EnvelopeKind.DELIVERY);
  if (r instanceof EnvelopeError) return r;
  const account = r.str("account");
  const filter = r.u8("filter");
  if (filter > DeliveryFilter.EXCEPT_DEVICE) r.fail("BAD_VALUE", `unknown delivery filter ${filter}`);
  const device = r.str("device");
  const capability = r.u16("capability");
  const close = r.u8("closeAfter");
  if (close > 1) r.fail("BAD_VALUE", `closeAfter must be 0 or 1, got ${close}`);
  const count = r.u16("others");
  const others: string[] = [];
  for (let i = 0; i < count && r.error === undefined; i++) others.push(r.str("others"));
  const frames = r.blob("frames");
  const e: DeliveryEnvelope = { account, filter, device, capability, closeAfter: close === 1, frames };
  if (others.length > 0) e.others = others;
  return r.finish() ?? e;
}

/** edge → service: the answer to a DeliveryEnvelope. */
export interface DeliveryAck {
  /** Connections the frames were written to; 0 means the caller should store the message offline. */
  delivered: number;
}

export function encodeDeliveryAck(a: DeliveryAck): Buffer {
  checkInt("delivered", a.delivered, 0xffffffff);
  const w = new Writer(HEADER + 4);
  header(w, EnvelopeKind.DELIVERY_ACK);
  w.u32(a.delivered);
  return w.done();
}

export function decodeDeliveryAck(b: Uint8Array): DeliveryAck | EnvelopeError {
  const r = openEnvelope(b, EnvelopeKind.DELIVERY_ACK);
  if (r instanceof EnvelopeError) return r;
  const delivered = r.u32("delivered");
  return r.finish() ?? { delivered };
}

// ---------------------------------------------------------------- events

/**
 * An event (a device gone, a list changed …): the feature that publishes it owns its name and
 * payload (see @impp/service-kit's defineEvent); the bus only frames it. `size` is the payload's
 * encoded length; `write` fills it in.
 */
export function encodeEvent(size: number, write: (w: Writer) => void): Buffer {
  const w = new Writer(HEADER + size);
  header(w, EnvelopeKind.EVENT);
  write(w);
  return w.done();
}

/** The reader positioned on an event's payload, or why the bytes are no event. */
export function openEvent(b: Uint8Array): Reader | EnvelopeError {
  return openEnvelope(b, EnvelopeKind.EVENT);
}
