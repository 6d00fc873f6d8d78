import { Channel, ERRORCODE_TLV, Flags, START_BYTE, TLV_HEADER_SIZE } from "./constants.js";
import type { FrameHeader } from "./errors.js";

// The byte layouts of IMPP heads (PROTOCOL.md §2): the 16 bytes before a TLV block and the
// type/length before a TLV value. This is the one place they are read; everything else calls these.
// None of the readers checks bounds: the caller knows the bytes are there. They are small and
// monomorphic on purpose, so V8 inlines them into the streaming decoder's hot path. The readers the
// decoder calls per frame or per TLV (the header fields, tlvEnd) spell out their byte reads rather
// than call readU16/readU32: an inlined call still leaves a callee check behind, and the nested calls
// cost ~4% of the decoder's frames/s on small frames (`npm run bench:codec`).

/** Big-endian u16 at `p`. */
export function readU16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

/** Big-endian u32 at `p` (`>>> 0` keeps a value with its top bit set positive). */
export function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

// A TLV-channel message starting at `p`: 6f 02, u16 flags, u16 family, u16 type, u32 sequence,
// u32 block size, then the block.

export function readFlags(b: Uint8Array, p: number): number {
  return (b[p + 2]! << 8) | b[p + 3]!;
}

export function readFamily(b: Uint8Array, p: number): number {
  return (b[p + 4]! << 8) | b[p + 5]!;
}

/** The message type (not a TLV type: see tlvType). */
export function readType(b: Uint8Array, p: number): number {
  return (b[p + 6]! << 8) | b[p + 7]!;
}

export function readSequence(b: Uint8Array, p: number): number {
  return ((b[p + 8]! << 24) | (b[p + 9]! << 16) | (b[p + 10]! << 8) | b[p + 11]!) >>> 0;
}

/** Length of the block that follows the 16-byte header (compressed length when compression is on). */
export function readBlockSize(b: Uint8Array, p: number): number {
  return ((b[p + 12]! << 24) | (b[p + 13]! << 16) | (b[p + 14]! << 8) | b[p + 15]!) >>> 0;
}

/** Flags, family, type and sequence of the TLV-channel message at `p` (start and channel not checked). */
export function readHeader(b: Uint8Array, p: number): FrameHeader {
  return {
    flags: readFlags(b, p),
    family: readFamily(b, p),
    type: readType(b, p),
    sequence: readSequence(b, p),
  };
}

/** The protocol version of the version message (6f 01, u16 version) at `p`. */
export function readVersion(b: Uint8Array, p: number): number {
  return readU16(b, p + 2);
}

/** Writes the 16 bytes before a TLV block. Header fields are trusted (our own code builds them). */
export function writeHeader(buf: Buffer, at: number, h: FrameHeader, blockSize: number): void {
  if (
    !(
      h.flags >= 0 &&
      h.flags <= 0xffff &&
      h.family >= 0 &&
      h.family <= 0xffff &&
      h.type >= 0 &&
      h.type <= 0xffff
    )
  ) {
    throw new RangeError(`frame header field out of u16 range: ${JSON.stringify(h)}`);
  }
  if (!(h.sequence >= 0 && h.sequence <= 0xffffffff))
    throw new RangeError(`sequence ${h.sequence} is not a u32`);
  buf[at] = START_BYTE;
  buf[at + 1] = Channel.TLV;
  buf[at + 2] = h.flags >>> 8;
  buf[at + 3] = h.flags & 0xff;
  buf[at + 4] = h.family >>> 8;
  buf[at + 5] = h.family & 0xff;
  buf[at + 6] = h.type >>> 8;
  buf[at + 7] = h.type & 0xff;
  buf.writeUInt32BE(h.sequence >>> 0, at + 8);
  buf.writeUInt32BE(blockSize, at + 12);
}

// A TLV at `p` (§2.3): u16 type; if the type's MSB is set a u32 length follows, else a u16 length;
// then the value. The one TLV walker is tlvEnd; tlvType and tlvValueStart read the rest of a TLV.

/** The TLV at `p` has the u32 length form (its type's MSB is set). Needs 1 byte at `p`. */
export function isLongTlv(b: Uint8Array, p: number): boolean {
  return (b[p]! & 0x80) !== 0;
}

/**
 * One step of a TLV walk: the offset just past the value of the TLV at `p`, as its type and length
 * say. The TLV fits in a block ending at `end` exactly when the result is ≤ end; one whose head or
 * value is cut off by `end` gives an offset past `end` (a cut head still gives at least p + 4, as
 * bytes beyond `b` read as 0). Needs 1 byte at `p`; no other bounds check, no allocation. (Checking
 * against `end` here, with a -1 for an overrun, made the streaming decoder ~10% slower.)
 */
export function tlvEnd(b: Uint8Array, p: number): number {
  return b[p]! & 0x80
    ? p + 6 + (((b[p + 2]! << 24) | (b[p + 3]! << 16) | (b[p + 4]! << 8) | b[p + 5]!) >>> 0)
    : p + 4 + ((b[p + 2]! << 8) | b[p + 3]!);
}

/** The type of the TLV at `p`, without the length-form bit. Needs 2 bytes at `p`. */
export function tlvType(b: Uint8Array, p: number): number {
  return readU16(b, p) & 0x7fff;
}

/** Where the value of the TLV at `p` starts; it ends at tlvEnd. */
export function tlvValueStart(b: Uint8Array, p: number): number {
  return isLongTlv(b, p) ? p + 6 : p + 4;
}

/**
 * The ERRORCODE of the error message at `p` (§2.5: the ERROR flag set, a block opening with the
 * u16 ERRORCODE TLV), or undefined when the bytes there are no such message: not a TLV-channel
 * header, no ERROR flag, or a block (as far as it is there) not opening with a 2-byte ERRORCODE —
 * a compressed block included. Only the header and the first TLV need to be present.
 */
export function errorCodeOf(b: Uint8Array, p = 0): number | undefined {
  if (b.length - p < TLV_HEADER_SIZE || b[p] !== START_BYTE || b[p + 1] !== Channel.TLV) return undefined;
  if ((readFlags(b, p) & Flags.ERROR) === 0) return undefined;
  const start = p + TLV_HEADER_SIZE;
  const end = Math.min(start + readBlockSize(b, p), b.length);
  if (start >= end) return undefined;
  const next = tlvEnd(b, start);
  if (next > end || tlvType(b, start) !== ERRORCODE_TLV || next - tlvValueStart(b, start) !== 2) {
    return undefined;
  }
  return readU16(b, next - 2);
}
