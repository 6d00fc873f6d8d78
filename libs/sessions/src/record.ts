import { type DeviceRecord, SessionError } from "./types.js";

/*
 * Binary layout, version 1 (all integers big-endian; str = u16 byte length + UTF-8):
 *
 *   u8 version | str name | str edgeId | str connId      ← header, also parsed by the Redis Lua scripts
 *   str remoteAddress | f64 connectedAt | u16 status
 *   u8 flags (1 idle, 2 mobile, 4 statusAutomatic)
 *   u8 optional mask, then one str per set bit in OPTIONAL order
 *   u16 capability count | u16 each
 *   str server — only when flags has bit 8 (added later: records without it read as before)
 *
 * The account is not stored: it is the Redis key the record lives under.
 */
export const RECORD_VERSION = 1;

const OPTIONAL = [
  "statusMessage",
  "clientName",
  "clientPlatform",
  "clientModel",
  "clientArch",
  "clientVersion",
  "clientBuild",
  "clientDescription",
] as const satisfies ReadonlyArray<keyof DeviceRecord>;

const U16 = 0xffff;

function invalid(what: string): never {
  throw new SessionError("INVALID_RECORD", `device record: ${what}`);
}

function strLen(s: string, field: string): number {
  const n = Buffer.byteLength(s, "utf8");
  if (n > U16) invalid(`${field} is ${n} bytes, over ${U16}`);
  return n;
}

function u16(n: number, field: string): number {
  if (!Number.isInteger(n) || n < 0 || n > U16) invalid(`${field} must be an integer from 0 to ${U16}`);
  return n;
}

export function encodeDevice(r: DeviceRecord): Buffer {
  const head = [r.name, r.edgeId, r.connId, r.remoteAddress];
  const headNames = ["name", "edgeId", "connId", "remoteAddress"];
  let size = 1 + 8 + 2 + 1 + 1 + 2;
  const lens: number[] = [];
  for (let i = 0; i < head.length; i++) {
    const n = strLen(head[i]!, headNames[i]!);
    lens.push(n);
    size += 2 + n;
  }
  let mask = 0;
  for (let i = 0; i < OPTIONAL.length; i++) {
    const v = r[OPTIONAL[i]!];
    if (v !== undefined) {
      mask |= 1 << i;
      const n = strLen(v, OPTIONAL[i]!);
      lens.push(n);
      size += 2 + n;
    }
  }
  const caps = r.capabilities;
  if (caps.length > U16) invalid("more than 65535 capabilities");
  size += 2 * caps.length;
  const serverLen = r.server === undefined ? -1 : strLen(r.server, "server");
  if (serverLen >= 0) size += 2 + serverLen;
  if (!Number.isFinite(r.connectedAt)) invalid("connectedAt must be a finite number");

  const buf = Buffer.allocUnsafe(size);
  let o = buf.writeUInt8(RECORD_VERSION, 0);
  let li = 0;
  const str = (s: string) => {
    const n = lens[li++]!;
    o = buf.writeUInt16BE(n, o);
    o += buf.write(s, o, n, "utf8");
  };
  for (const s of head) str(s);
  o = buf.writeDoubleBE(r.connectedAt, o);
  o = buf.writeUInt16BE(u16(r.status, "status"), o);
  o = buf.writeUInt8(
    (r.isIdle ? 1 : 0) | (r.isMobile ? 2 : 0) | (r.isStatusAutomatic ? 4 : 0) | (serverLen >= 0 ? 8 : 0),
    o,
  );
  o = buf.writeUInt8(mask, o);
  for (const k of OPTIONAL) {
    const v = r[k];
    if (v !== undefined) str(v);
  }
  o = buf.writeUInt16BE(caps.length, o);
  for (const c of caps) o = buf.writeUInt16BE(u16(c, "capability"), o);
  if (serverLen >= 0) {
    o = buf.writeUInt16BE(serverLen, o);
    o += buf.write(r.server!, o, serverLen, "utf8");
  }
  return buf;
}

/**
 * The record without its leading version byte and name: Redis's bind script
 * prepends both once it has picked the name.
 */
export function encodeDeviceTail(r: Omit<DeviceRecord, "name">): Buffer {
  return encodeDevice({ ...r, name: "" }).subarray(3);
}

/** Decodes a stored record. Throws SessionError CORRUPT_RECORD on anything malformed. */
export function decodeDevice(account: string, buf: Buffer): DeviceRecord {
  let o = 0;
  const corrupt = (why: string): never => {
    throw new SessionError("CORRUPT_RECORD", `device record of ${account}: ${why}`);
  };
  const need = (n: number) => {
    if (o + n > buf.length) corrupt("truncated");
  };
  const str = (): string => {
    need(2);
    const n = buf.readUInt16BE(o);
    o += 2;
    need(n);
    const s = buf.toString("utf8", o, o + n);
    o += n;
    return s;
  };
  need(1);
  const version = buf.readUInt8(0);
  if (version !== RECORD_VERSION) corrupt(`unknown version ${version}`);
  o = 1;
  const name = str();
  const edgeId = str();
  const connId = str();
  const remoteAddress = str();
  need(12);
  const connectedAt = buf.readDoubleBE(o);
  const status = buf.readUInt16BE(o + 8);
  const flags = buf.readUInt8(o + 10);
  const mask = buf.readUInt8(o + 11);
  o += 12;
  const r: DeviceRecord = {
    account,
    name,
    edgeId,
    connId,
    remoteAddress,
    connectedAt,
    status,
    capabilities: [],
    isIdle: (flags & 1) !== 0,
    isMobile: (flags & 2) !== 0,
    isStatusAutomatic: (flags & 4) !== 0,
  };
  for (let i = 0; i < OPTIONAL.length; i++) {
    if ((mask & (1 << i)) !== 0) r[OPTIONAL[i]!] = str();
  }
  need(2);
  const count = buf.readUInt16BE(o);
  o += 2;
  need(2 * count);
  const caps = new Array<number>(count);
  for (let i = 0; i < count; i++) caps[i] = buf.readUInt16BE(o + 2 * i);
  o += 2 * count;
  r.capabilities = caps;
  if ((flags & 8) !== 0) r.server = str();
  if (o !== buf.length) corrupt("trailing bytes");
  return r;
}

export function applyPatch(
  r: DeviceRecord,
  patch: Partial<
    Pick<
      DeviceRecord,
      "status" | "statusMessage" | "capabilities" | "isIdle" | "isMobile" | "isStatusAutomatic"
    >
  >,
): DeviceRecord {
  const next = { ...r };
  if (patch.status !== undefined) next.status = patch.status;
  // An explicit key with undefined clears the status message; an absent key leaves it.
  if ("statusMessage" in patch) {
    if (patch.statusMessage === undefined) delete next.statusMessage;
    else next.statusMessage = patch.statusMessage;
  }
  if (patch.capabilities !== undefined) next.capabilities = [...patch.capabilities];
  if (patch.isIdle !== undefined) next.isIdle = patch.isIdle;
  if (patch.isMobile !== undefined) next.isMobile = patch.isMobile;
  if (patch.isStatusAutomatic !== undefined) next.isStatusAutomatic = patch.isStatusAutomatic;
  return next;
}

/** Device lists in a stable order whatever the backing store's hash order. */
export function byConnectedAt(a: DeviceRecord, b: DeviceRecord): number {
  return a.connectedAt - b.connectedAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Accounts become part of index fields joined with NUL. */
export function checkAccount(account: string): void {
  if (account.includes("\0")) invalid("account contains NUL");
}
