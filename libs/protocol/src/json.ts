// The readable JSON form of frames, shared by the fixtures and `impp decode --json`. Not for the hot path.
import { inflateBlock } from "./compression.js";
import { DEFAULT_MAX_BLOCK, isNestedTlv } from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { Frame } from "./frame.js";
import { encodeFrame, encodeFrameCompressed, encodeVersion } from "./frame.js";
import type { Tlv } from "./tlv.js";
import { parseTlvs, TlvWriter } from "./tlv.js";

export interface TlvJson {
  type: number;
  /** Lower-case hex of the value. */
  value: string;
  /** Present (true) when the wire used the u32 length form for a value that fits in u16. */
  wide?: true;
  /** For tuple TLVs (DEVICE_TUPLE, OFFLINE_MESSAGE, GROUP_CHAT_TUPLE): the value decoded. */
  tlvs?: TlvJson[];
}

export interface VersionFrameJson {
  channel: "version";
  version: number;
}

export interface TlvFrameJson {
  channel: "tlv";
  flags: number;
  family: number;
  type: number;
  sequence: number;
  tlvs: TlvJson[];
  /** The block came compressed: `tlvs` are those of the inflated block. */
  compressed?: true;
  /** When the block could not be decoded: the raw block and why. */
  block?: string;
  error?: { kind: string; message: string };
}

export type FrameJson = VersionFrameJson | TlvFrameJson;

export interface FrameToJsonOptions {
  /** The block is a zlib stream (a compressed session): inflate before listing TLVs. */
  compressed?: boolean;
  maxBlockSize?: number;
}

export function frameToJson(frame: Frame, opts: FrameToJsonOptions = {}): FrameJson {
  if (frame.channel === 1) return { channel: "version", version: frame.version };
  const out: TlvFrameJson = {
    channel: "tlv",
    flags: frame.flags,
    family: frame.family,
    type: frame.type,
    sequence: frame.sequence,
    tlvs: [],
  };
  let block = frame.block;
  if (opts.compressed) {
    out.compressed = true;
    const inflated = inflateBlock(block, opts.maxBlockSize ?? DEFAULT_MAX_BLOCK);
    if (inflated instanceof ProtocolError) return withError(out, block, inflated);
    block = inflated;
  }
  const tlvs = parseTlvs(block, frame.family);
  if (tlvs instanceof ProtocolError) return withError(out, block, tlvs);
  out.tlvs = tlvs.map((t) => tlvToJson(frame.family, t, true));
  return out;
}

function withError(out: TlvFrameJson, block: Buffer, err: ProtocolError): TlvFrameJson {
  out.block = block.toString("hex");
  out.error = { kind: err.kind, message: err.message };
  return out;
}

function tlvToJson(family: number, t: Tlv, outer: boolean): TlvJson {
  const j: TlvJson = { type: t.type, value: t.value.toString("hex") };
  if (t.wide) j.wide = true;
  if (outer && isNestedTlv(family, t.type)) {
    const inner = parseTlvs(t.value, family);
    if (!(inner instanceof ProtocolError)) j.tlvs = inner.map((i) => tlvToJson(family, i, false));
  }
  return j;
}

/** Encodes a frame from its JSON form (values taken from `value`; a nested `tlvs` is only a readable copy). */
export function encodeFrameJson(json: FrameJson): Buffer {
  if (json.channel === "version") return encodeVersion(json.version);
  const w = new TlvWriter();
  for (const t of json.tlvs) w.bytes(t.type, Buffer.from(t.value, "hex"), t.wide === true);
  const header = { flags: json.flags, family: json.family, type: json.type, sequence: json.sequence };
  return json.compressed ? encodeFrameCompressed(header, w.finish()) : encodeFrame(header, w.finish());
}

export class HexError extends Error {
  override readonly name = "HexError";
  readonly kind = "BAD_HEX";
  /** Character offset in the input text. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`BAD_HEX: ${message}`);
    this.offset = offset;
  }
}

const OFFSET_COLUMN = /^(?:[0-9a-f]{4}|[0-9a-f]{8}):?$/i;
const BYTE = /^[0-9a-f]{2}$/i;

/**
 * Hex text to bytes. Accepts whitespace anywhere, "0x" prefixes, and dump-style lines whose first
 * column is a 4- or 8-digit offset (as in PROTOCOL.md §5) — recognised only when every other token
 * on the line is a single byte, so "6f020000 00010001" still reads as plain hex. "..." (the
 * cut-off marker in §5) is ignored.
 */
export function parseHex(text: string): Buffer | HexError {
  const digits: string[] = [];
  let lineStart = 0;
  for (const line of text.split("\n")) {
    const tokens = line
      .trim()
      .split(/\s+/)
      .filter((t) => t.length > 0 && t !== "..." && t !== "…");
    if (tokens.length > 1 && OFFSET_COLUMN.test(tokens[0]!) && tokens.slice(1).every((t) => BYTE.test(t))) {
      tokens.shift();
    }
    for (const tok of tokens) {
      const t = tok.startsWith("0x") || tok.startsWith("0X") ? tok.slice(2) : tok;
      const bad = t.search(/[^0-9a-f]/i);
      if (bad >= 0) {
        const at = lineStart + Math.max(0, line.indexOf(tok)) + bad + (t === tok ? 0 : 2);
        return new HexError(`invalid hex character ${JSON.stringify(t[bad])} at offset ${at}`, at);
      }
      digits.push(t);
    }
    lineStart += line.length + 1;
  }
  const all = digits.join("");
  if (all.length % 2 !== 0) return new HexError(`odd number of hex digits (${all.length})`, text.length);
  return Buffer.from(all, "hex");
}
