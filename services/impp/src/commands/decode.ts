// `impp decode`: hex → readable frames. The logic is the pure `decodeText`; `decodeCommand` is its I/O.
import { parseArgs } from "node:util";
import {
  DEFAULT_MAX_BLOCK,
  errorName,
  Family,
  type Frame,
  FrameDecoder,
  familyName,
  frameToJson,
  HexError,
  ProtocolError,
  parseHex,
  renderFrameLines,
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
  return renderFrameLines(frame, opts).join("\n");
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
