// `impp decode`: hex → readable frames. The logic is the pure `decodeText`; `decodeCommand` is its I/O.
import { isUtf8 } from "node:buffer";
import { parseArgs } from "node:util";
import {
  DEFAULT_MAX_BLOCK,
  DeviceTlv,
  ERRORCODE_TLV,
  errorName,
  Family,
  Feature,
  type Frame,
  FrameDecoder,
  familyName,
  flagsName,
  frameToJson,
  HexError,
  inflateBlock,
  PresenceTlv,
  ProtocolError,
  parseHex,
  parseTlvs,
  StreamTlv,
  statusName,
  type Tlv,
  type TlvFrame,
  tlvKind,
  tlvName,
  typeName,
} from "@impp/protocol";
import type { CommandIo } from "../command.js";

export const decodeHelp = `impp decode [--json] [--compressed] [--max-block BYTES] [HEX...]

Decodes IMPP messages from hex given as arguments or, without arguments, on
stdin. Spaces, newlines and "0000"-style offset columns (as in PROTOCOL.md §5)
are allowed. Prints each frame with its family, type, flags and TLV names;
--json prints one JSON object per frame instead. --compressed inflates blocks
(a session with COMPRESSION on). Bad input prints the typed error and exits 1.

  impp decode 6f 01 00 0e
  echo 6f020000000700020000000100000000 | impp decode --json`;

/** Input that ends inside a frame. */
export class IncompleteInputError extends Error {
  override readonly name = "IncompleteInputError";
  readonly kind = "INCOMPLETE";
  readonly leftover: number;
  constructor(leftover: number) {
    super(`INCOMPLETE: the input ends inside a frame (${leftover} bytes left over)`);
    this.leftover = leftover;
  }
}

export type DecodeError = ProtocolError | HexError | IncompleteInputError;

export interface DecodeOptions {
  json?: boolean;
  compressed?: boolean;
  maxBlockSize?: number;
}

export interface DecodeResult {
  /** One entry per frame: a JSON line, or a readable block of lines. */
  output: string[];
  /** Every problem met, in order; the input is bad when this is not empty. */
  errors: DecodeError[];
}

export function decodeText(text: string, opts: DecodeOptions = {}): DecodeResult {
  const bytes = parseHex(text);
  if (bytes instanceof HexError) return { output: [], errors: [bytes] };
  const maxBlockSize = opts.maxBlockSize ?? DEFAULT_MAX_BLOCK;
  const decoder = new FrameDecoder({ maxBlockSize, checkTlvs: !opts.compressed });
  decoder.push(bytes);
  const out: DecodeResult = { output: [], errors: [] };
  for (let r = decoder.next(); r !== null; r = decoder.next()) {
    if (r instanceof ProtocolError) {
      out.errors.push(r);
      if (r.fatal) return out;
      continue;
    }
    out.output.push(
      opts.json
        ? JSON.stringify(frameToJson(r, { compressed: opts.compressed === true, maxBlockSize }))
        : render(r, opts),
    );
  }
  if (decoder.buffered > 0) out.errors.push(new IncompleteInputError(decoder.buffered));
  return out;
}

/** The error as printed: kind, message, and what a server would answer. */
export function describeError(e: DecodeError): string {
  if (!(e instanceof ProtocolError)) return e.message;
  const answer = `${errorName(e.header?.family ?? Family.STREAM, e.errorCode)}${e.fatal ? ", fatal" : ""}`;
  const where = e.header
    ? ` in ${familyName(e.header.family)} ${typeName(e.header.family, e.header.type)} seq ${e.header.sequence}`
    : "";
  return `${e.message}${where} (server answers ${answer})`;
}

// ---- readable rendering -----------------------------------------------------------------------

function render(frame: Frame, opts: DecodeOptions): string {
  if (frame.channel === 1) return `VERSION ${frame.version}`;
  const lines = [headerLine(frame)];
  let block = frame.block;
  if (opts.compressed) {
    const inflated = inflateBlock(block, opts.maxBlockSize ?? DEFAULT_MAX_BLOCK);
    if (inflated instanceof ProtocolError) {
      lines.push(`  ! ${inflated.message}`);
      return lines.join("\n");
    }
    lines[0] += ` (${inflated.length} inflated)`;
    block = inflated;
  }
  const tlvs = parseTlvs(block, frame.family);
  if (tlvs instanceof ProtocolError) {
    lines.push(`  ! ${tlvs.message}`, `  block ${block.toString("hex")}`);
  } else {
    renderTlvs(frame.family, tlvs, "  ", lines, true);
  }
  return lines.join("\n");
}

function headerLine(f: TlvFrame): string {
  const flags = `0x${f.flags.toString(16).padStart(4, "0")}`;
  return `${familyName(f.family)} ${typeName(f.family, f.type)} ${flagsName(f.flags)} (flags ${flags}) seq ${f.sequence} block ${f.block.length} bytes`;
}

function renderTlvs(
  family: number,
  tlvs: readonly Tlv[],
  indent: string,
  lines: string[],
  outer: boolean,
): void {
  const width = Math.max(0, ...tlvs.map((t) => label(family, t).length));
  for (const t of tlvs) {
    const head = `${indent}${label(family, t).padEnd(width)}  `;
    if (tlvKind(family, t.type) === "tuple" && outer) {
      const inner = parseTlvs(t.value, family);
      if (!(inner instanceof ProtocolError)) {
        lines.push(`${head}{`);
        renderTlvs(family, inner, indent + "  ", lines, false);
        lines.push(`${indent}}`);
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

// ---- the command ------------------------------------------------------------------------------

export async function decodeCommand(args: string[], io: CommandIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    io.stderr.write(`impp decode: ${(e as Error).message}\n\n${decodeHelp}\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout.write(decodeHelp + "\n");
    return 0;
  }
  const maxRaw = parsed.values["max-block"];
  const maxBlockSize = maxRaw === undefined ? DEFAULT_MAX_BLOCK : Number(maxRaw);
  if (!Number.isSafeInteger(maxBlockSize) || maxBlockSize < 0) {
    io.stderr.write(`impp decode: --max-block must be a byte count, got ${JSON.stringify(maxRaw)}\n`);
    return 2;
  }
  let text: string;
  if (parsed.positionals.length > 0) {
    text = parsed.positionals.join(" ");
  } else if (io.stdin.isTTY) {
    io.stderr.write(`impp decode: give hex as arguments or on stdin\n\n${decodeHelp}\n`);
    return 2;
  } else {
    text = await readAll(io.stdin);
  }
  const result = decodeText(text, {
    json: parsed.values.json === true,
    compressed: parsed.values.compressed === true,
    maxBlockSize,
  });
  if (result.output.length > 0)
    io.stdout.write(result.output.join(parsed.values.json ? "\n" : "\n\n") + "\n");
  for (const e of result.errors) io.stderr.write(`impp decode: ${describeError(e)}\n`);
  return result.errors.length > 0 ? 1 : 0;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      compressed: { type: "boolean" },
      "max-block": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}

// The command-module shape the `impp` dispatcher loads.
export const help = decodeHelp;
export const run = decodeCommand;
