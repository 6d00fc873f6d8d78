import { deflateBlock } from "./compression.js";
import {
  Channel,
  DEFAULT_MAX_BLOCK,
  ERRORCODE_TLV,
  Flags,
  PROTOCOL_VERSION,
  START_BYTE,
  TLV_HEADER_SIZE,
  VERSION_FRAME_SIZE,
} from "./constants.js";
import type { FrameHeader } from "./errors.js";
import { ProtocolError } from "./errors.js";
import { readBlockSize, readHeader, writeHeader } from "./header.js";

export type { FrameHeader } from "./errors.js";

export interface VersionFrame {
  channel: 1;
  version: number;
}

export interface TlvFrame {
  channel: 2;
  flags: number;
  family: number;
  type: number;
  sequence: number;
  /** Zero-copy view of the input; compressed or not, as it came off the wire. */
  block: Buffer;
}

export type Frame = VersionFrame | TlvFrame;

export function encodeVersion(version: number): Buffer {
  if (!(version >= 0 && version <= 0xffff && Number.isInteger(version))) {
    throw new RangeError(`version ${version} is not a u16`);
  }
  const b = Buffer.allocUnsafe(VERSION_FRAME_SIZE);
  b[0] = START_BYTE;
  b[1] = Channel.VERSION;
  b[2] = version >>> 8;
  b[3] = version & 0xff;
  return b;
}

/** One allocation: the 16-byte header followed by a copy of the block. */
export function encodeFrame(header: FrameHeader, block: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(TLV_HEADER_SIZE + block.length);
  writeHeader(out, 0, header, block.length);
  out.set(block, TLV_HEADER_SIZE);
  return out;
}

/** The block as its own zlib stream (§2.6); an empty block is sent with size 0 and no stream. */
export function encodeFrameCompressed(header: FrameHeader, block: Uint8Array): Buffer {
  return encodeFrame(header, deflateBlock(block));
}

/**
 * An error message: the request's family/type/sequence, flags exactly ERROR (|EXTENSION for
 * extension requests), ERRORCODE first, then `extra` (already-encoded TLVs, e.g. SERVER).
 */
export function encodeError(
  family: number,
  type: number,
  sequence: number,
  code: number,
  extra?: Uint8Array,
  extension = false,
): Buffer {
  const extraLen = extra?.length ?? 0;
  const out = Buffer.allocUnsafe(TLV_HEADER_SIZE + 6 + extraLen);
  writeHeader(
    out,
    0,
    { flags: Flags.ERROR | (extension ? Flags.EXTENSION : 0), family, type, sequence },
    6 + extraLen,
  );
  out[16] = ERRORCODE_TLV >>> 8;
  out[17] = ERRORCODE_TLV & 0xff;
  out[18] = 0;
  out[19] = 2;
  out[20] = code >>> 8;
  out[21] = code & 0xff;
  if (extra !== undefined) out.set(extra, 22);
  return out;
}

/** The error message a server sends for a decode error (§6): echoes the header when it was read. */
export function encodeProtocolError(err: ProtocolError, extension = false): Buffer {
  const h = err.header;
  if (h === undefined) return encodeError(1, 0, 0, err.errorCode);
  return encodeError(
    h.family,
    h.type,
    h.sequence,
    err.errorCode,
    undefined,
    extension || (h.flags & Flags.EXTENSION) !== 0,
  );
}

/**
 * §2.1: a client version below 8 is refused (the server answers version 8, then closes); any
 * version ≥ 8 is accepted and echoed. Returns the fatal BAD_VERSION_FRAME error for a refusal.
 */
export function clientVersionError(version: number): ProtocolError | null {
  if (version >= PROTOCOL_VERSION) return null;
  return new ProtocolError("BAD_VERSION_FRAME", `client version ${version} is below ${PROTOCOL_VERSION}`);
}

export interface PeekedHeader extends FrameHeader {
  blockSize: number;
}

/**
 * Reads a TLV header at the start of `buf` without needing the block: null when fewer than 16 bytes
 * are there, a ProtocolError for a bad start byte / channel / over-limit size. Version frames are
 * not TLV headers: they yield UNKNOWN_CHANNEL here, use FrameDecoder for mixed input.
 */
export function peekHeader(
  buf: Uint8Array,
  maxBlockSize = DEFAULT_MAX_BLOCK,
): PeekedHeader | ProtocolError | null {
  if (buf.length >= 1 && buf[0] !== START_BYTE) {
    return new ProtocolError("BAD_START_BYTE", `expected 0x6f, got 0x${hex2(buf[0]!)}`, { offset: 0 });
  }
  if (buf.length >= 2 && buf[1] !== Channel.TLV) {
    return new ProtocolError("UNKNOWN_CHANNEL", `channel 0x${hex2(buf[1]!)} is not a TLV channel`, {
      offset: 1,
    });
  }
  if (buf.length < TLV_HEADER_SIZE) return null;
  const h = readHeader(buf, 0);
  const blockSize = readBlockSize(buf, 0);
  if (blockSize > maxBlockSize) return blockTooLarge(h, blockSize, maxBlockSize, 0);
  return { ...h, blockSize };
}

export function blockTooLarge(h: FrameHeader, size: number, max: number, offset: number): ProtocolError {
  return new ProtocolError("BLOCK_TOO_LARGE", `block size ${size} exceeds the ${max}-byte limit`, {
    header: h,
    offset,
  });
}

export function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
