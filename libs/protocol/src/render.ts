// The readable text form of frames: what `impp decode` prints and the edge's trace log shows.
// Not for the hot path.
import { isUtf8 } from "node:buffer";
import { inflateBlock } from "./compression.js";
import {
  DEFAULT_MAX_BLOCK,
  DeviceTlv,
  ERRORCODE_TLV,
  errorName,
  Family,
  Feature,
  familyName,
  flagsName,
  PresenceTlv,
  StreamTlv,
  statusName,
  tlvKind,
  tlvName,
  typeName,
} from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { Frame, TlvFrame } from "./frame.js";
import { parseTlvs, type Tlv } from "./tlv.js";

/**
 * Says which TLV values must not be shown (passwords, message bodies): the text put in their place
 * (e.g. "<password>"), or undefined to show the value. The length is appended.
 */
export type TlvRedactor = (family: number, type: number) => string | undefined;

export interface RenderOptions {
  /** The block is a zlib stream: inflate before listing TLVs. */
  compressed?: boolean;
  maxBlockSize?: number;
  redact?: TlvRedactor;
}

/** One frame as lines: the header line, then one line per TLV (tuples opened, indented). */
export function renderFrameLines(frame: Frame, opts: RenderOptions = {}): string[] {
  if (frame.channel === 1) return [`VERSION ${frame.version}`];
  const lines = [headerLine(frame)];
  let block = frame.block;
  if (opts.compressed) {
    const inflated = inflateBlock(block, opts.maxBlockSize ?? DEFAULT_MAX_BLOCK);
    if (inflated instanceof ProtocolError) {
      lines.push(`  ! ${inflated.message}`);
      return lines;
    }
    lines[0] += ` (${inflated.length} inflated)`;
    block = inflated;
  }
  const tlvs = parseTlvs(block, frame.family);
  if (tlvs instanceof ProtocolError) {
    lines.push(
      `  ! ${tlvs.message}`,
      opts.redact ? `  block ${block.length} bytes` : `  block ${block.toString("hex")}`,
    );
  } else {
    renderTlvs(frame.family, tlvs, "  ", lines, true, opts.redact);
  }
  return lines;
}

/**
 * The TLVs of a block (already inflated) on one line, as the trace log shows them:
 * `NAME (3) "alice"; PASSWORD (5) <password> (15 bytes); DEVICE_TUPLE (18) { DEVICE_NAME (8) "x" }`.
 */
export function renderBlockLine(family: number, block: Buffer, redact?: TlvRedactor): string {
  const tlvs = parseTlvs(block, family);
  if (tlvs instanceof ProtocolError) return `! ${tlvs.message}`;
  const lines: string[] = [];
  renderTlvs(family, tlvs, "", lines, true, redact, false);
  return lines.join("; ").replace(/\{; /g, "{ ").replace(/; \}/g, " }");
}

export function headerLine(f: TlvFrame): string {
  const flags = `0x${f.flags.toString(16).padStart(4, "0")}`;
  return `${familyName(f.family)} ${typeName(f.family, f.type)} ${flagsName(f.flags)} (flags ${flags}) seq ${f.sequence} block ${f.block.length} bytes`;
}

function renderTlvs(
  family: number,
  tlvs: readonly Tlv[],
  indent: string,
  lines: string[],
  outer: boolean,
  redact: TlvRedactor | undefined,
  align = true,
): void {
  const width = align ? Math.max(0, ...tlvs.map((t) => label(family, t).length)) : 0;
  for (const t of tlvs) {
    const head = align ? `${indent}${label(family, t).padEnd(width)}  ` : `${label(family, t)} `;
    const hidden = redact?.(family, t.type);
    if (hidden !== undefined) {
      lines.push(`${head}${hidden} (${t.value.length} bytes)`);
      continue;
    }
    if (tlvKind(family, t.type) === "tuple" && outer) {
      const inner = parseTlvs(t.value, family);
      if (!(inner instanceof ProtocolError)) {
        lines.push(`${head}{`);
        renderTlvs(family, inner, indent + "  ", lines, false, redact, align);
        lines.push(align ? `${indent}}` : "}");
        continue;
      }
    }
    lines.push(head + renderValue(family, t));
  }
}

function label(family: number, t: Tlv): string {
  return `${tlvName(family, t.type)} (${t.type})${t.wide ? " [u32 length]" : ""}`;
}

function renderValue(family: number, t: Tlv): string {
  const v = t.value;
  const kind = tlvKind(family, t.type);
  const fixed = { u8: 1, u16: 2, u32: 4, u64: 8 } as const;
  if (kind === "u8" || kind === "u16" || kind === "u32" || kind === "u64") {
    if (v.length !== fixed[kind]) return `${hex(v)} (bad length: ${v.length} bytes, expected ${fixed[kind]})`;
    if (kind === "u64") {
      const n = v.readBigUInt64BE(0);
      const name = tlvName(family, t.type);
      const isTime = name === "TIMESTAMP" || name.endsWith("_AT");
      return isTime && n < 8_640_000_000_000_000n ? `${n} (${new Date(Number(n)).toISOString()})` : String(n);
    }
    const n = v.readUIntBE(0, v.length);
    return `${n}${annotate(family, t.type, n)}`;
  }
  if (kind === "u16list") {
    if (v.length % 2 !== 0) return `${hex(v)} (bad length: ${v.length} bytes, not a multiple of 2)`;
    const items: string[] = [];
    for (let i = 0; i < v.length; i += 2) {
      const n = v.readUInt16BE(i);
      items.push(`${n}${annotate(family, t.type, n)}`);
    }
    return `[${items.join(", ")}]`;
  }
  if (kind === "string") return printable(v) ? JSON.stringify(v.toString("utf8")) : `${hex(v)} (not text)`;
  // bytes, tuples that did not parse, and TLVs this codec does not know.
  if (v.length > 0 && printable(v)) return `${JSON.stringify(v.toString("utf8"))}  (${hex(v)})`;
  return v.length === 0 ? "(empty)" : hex(v);
}

function annotate(family: number, type: number, n: number): string {
  if (type === ERRORCODE_TLV) return ` ${errorName(family, n)} (0x${n.toString(16).padStart(4, "0")})`;
  if (
    (family === Family.DEVICE && type === DeviceTlv.STATUS) ||
    (family === Family.PRESENCE && type === PresenceTlv.STATUS)
  ) {
    return ` ${statusName(n)}`;
  }
  if (family === Family.STREAM && type === StreamTlv.FEATURES) {
    const names = Object.entries(Feature)
      .filter(([, bit]) => n & bit)
      .map(([name]) => name);
    return names.length > 0 ? ` ${names.join("|")}` : "";
  }
  const name = tlvName(family, type);
  if (name === "CAPABILITY" || name === "CAPABILITIES") return n === 1 ? " IM" : n === 2 ? " TYPING" : "";
  return "";
}

const MAX_HEX = 64;
function hex(v: Buffer): string {
  if (v.length <= MAX_HEX) return v.toString("hex");
  return `${v.subarray(0, MAX_HEX).toString("hex")}… (${v.length} bytes)`;
}

function printable(v: Buffer): boolean {
  if (!isUtf8(v)) return false;
  // Control bytes other than tab/newline mean binary, not text (UTF-8 never uses them inside a character).
  for (const b of v) if ((b < 0x20 && b !== 0x09 && b !== 0x0a) || b === 0x7f) return false;
  return true;
}
