// Request blocks the client builds. Pure: no I/O, so the encodings are unit-tested directly.
import { randomBytes } from "node:crypto";
import {
  Capability,
  DeviceTlv,
  ImTlv,
  ListsTlv,
  ListsType,
  Mechanism,
  Status,
  StreamTlv,
  TlvWriter,
} from "@impp/protocol";

export function featuresBlock(features: number): TlvWriter {
  return new TlvWriter(8).u16(StreamTlv.FEATURES, features);
}

export function authenticateBlock(name: string, password: string, passwordTlv: number): TlvWriter {
  return new TlvWriter(64 + name.length * 3 + password.length * 3)
    .u16(StreamTlv.MECHANISM, Mechanism.PASSWORD)
    .string(StreamTlv.NAME, name)
    .string(passwordTlv, password);
}

export interface ClientDescription {
  name?: string;
  platform?: string;
  model?: string;
  arch?: string;
  version?: string;
  build?: string;
  description?: string;
}

export interface BindOptions {
  deviceName: string;
  /** Default [IM, TYPING]. */
  capabilities?: readonly number[];
  /** Default ONLINE. */
  status?: number;
  statusMessage?: string;
  isIdle?: boolean;
  isMobile?: boolean;
  isStatusAutomatic?: boolean;
  /** Name/version/platform/arch default to this library and the host; the rest are sent only when given. */
  client?: ClientDescription;
}

export const CLIENT_NAME = "impp-client";
export const CLIENT_VERSION = "0.1.0";

/** DEVICE BIND with every field a real client sends, defaults filled in. */
export function bindBlock(opts: BindOptions): TlvWriter {
  const c = opts.client ?? {};
  const w = new TlvWriter(256)
    .string(DeviceTlv.CLIENT_NAME, c.name ?? CLIENT_NAME)
    .string(DeviceTlv.CLIENT_PLATFORM, c.platform ?? process.platform);
  if (c.model !== undefined) w.string(DeviceTlv.CLIENT_MODEL, c.model);
  w.string(DeviceTlv.CLIENT_ARCH, c.arch ?? process.arch);
  w.string(DeviceTlv.CLIENT_VERSION, c.version ?? CLIENT_VERSION);
  if (c.build !== undefined) w.string(DeviceTlv.CLIENT_BUILD, c.build);
  if (c.description !== undefined) w.string(DeviceTlv.CLIENT_DESCRIPTION, c.description);
  w.string(DeviceTlv.DEVICE_NAME, opts.deviceName)
    .u16(DeviceTlv.STATUS, opts.status ?? Status.ONLINE)
    .string(DeviceTlv.STATUS_MESSAGE, opts.statusMessage ?? "")
    .u16list(DeviceTlv.CAPABILITIES, opts.capabilities ?? [Capability.IM, Capability.TYPING])
    .u8(DeviceTlv.IS_IDLE, opts.isIdle ? 1 : 0)
    .u8(DeviceTlv.IS_MOBILE, opts.isMobile ? 1 : 0)
    .u8(DeviceTlv.IS_STATUS_AUTOMATIC, opts.isStatusAutomatic ? 1 : 0);
  return w;
}

export interface ImSendOptions {
  /** Default IM. */
  capability?: number;
  /** Default 4 random bytes, like real clients. */
  messageId?: Buffer;
  /** Default now, in ms since the epoch. */
  createdAt?: bigint;
  /** MESSAGE_SIZE when this is one chunk of a longer message; default the chunk's length. */
  totalSize?: number;
}

export function newMessageId(): Buffer {
  return randomBytes(4);
}

/** IM MESSAGE_SEND carrying one chunk (the whole message unless totalSize says otherwise). */
export function imSendBlock(to: string, chunk: Buffer, opts: ImSendOptions = {}): TlvWriter {
  return new TlvWriter(64 + to.length * 3 + chunk.length)
    .string(ImTlv.TO, to)
    .u16(ImTlv.CAPABILITY, opts.capability ?? Capability.IM)
    .bytes(ImTlv.MESSAGE_ID, opts.messageId ?? newMessageId())
    .u32(ImTlv.MESSAGE_SIZE, opts.totalSize ?? chunk.length)
    .bytes(ImTlv.MESSAGE_CHUNK, chunk)
    .u64(ImTlv.CREATED_AT, opts.createdAt ?? BigInt(Date.now()));
}

/** The block of a LISTS request about one address, in the list's own TLV (§4.3). */
export function listsBlock(type: number, address: string, nickname?: string): TlvWriter {
  const tlv =
    type === ListsType.ALLOW_ADD || type === ListsType.ALLOW_REMOVE
      ? ListsTlv.ALLOW_ADDRESS
      : type === ListsType.BLOCK_ADD || type === ListsType.BLOCK_REMOVE
        ? ListsTlv.BLOCK_ADDRESS
        : ListsTlv.CONTACT_ADDRESS;
  const w = new TlvWriter().string(tlv, address);
  if (nickname !== undefined) w.string(ListsTlv.NICKNAME, nickname);
  return w;
}
