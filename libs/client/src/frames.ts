import type { TlvBlock, TlvFrame } from "@impp/protocol";
import { ERRORCODE_TLV, Flags } from "@impp/protocol";

/** An inbound TLV-channel frame, decompressed and with its TLVs parsed (every frame the client hands out). */
export interface ResponseFrame extends TlvFrame {
  /** The block as plain TLV bytes (inflated when compression is on). */
  readonly block: Buffer;
  readonly tlvs: TlvBlock;
  readonly isError: boolean;
  readonly isIndication: boolean;
  /** ERRORCODE of an error frame; undefined for other frames or an error without a well-formed code. */
  readonly errorCode: number | undefined;
  /** The block was zlib-compressed on the wire. */
  readonly compressed: boolean;
}

export function toResponseFrame(
  header: { flags: number; family: number; type: number; sequence: number },
  block: Buffer,
  tlvs: TlvBlock,
  compressed: boolean,
): ResponseFrame {
  const isError = (header.flags & Flags.ERROR) !== 0;
  let errorCode: number | undefined;
  if (isError) {
    const code = tlvs.u16(ERRORCODE_TLV);
    if (typeof code === "number") errorCode = code;
  }
  return {
    channel: 2,
    flags: header.flags,
    family: header.family,
    type: header.type,
    sequence: header.sequence,
    block,
    tlvs,
    isError,
    isIndication: (header.flags & Flags.INDICATION) !== 0,
    errorCode,
    compressed,
  };
}

const EMPTY = Buffer.alloc(0);

/**
 * The last `unread` bytes of the chunks pushed into a decoder: what it holds beyond the frames it
 * returned. Used at the in-band TLS switch, where those bytes belong to TLS, not to IMPP.
 */
export function takeUnread(chunks: readonly Buffer[], unread: number): Buffer {
  if (unread <= 0) return EMPTY;
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  return all.subarray(Math.max(0, all.length - unread));
}
