// Declared request shapes (like Fastify's route schemas): each request type says once which TLVs
// it takes, of what kind, whether required, and within what limits (PROTOCOL.md §6). The kit
// compiles the declaration into one parse function, runs it before the handler, and answers a
// malformed request with the protocol's error; the handler gets a typed object and never touches
// the raw block. Pure: no I/O.
import { isUtf8 } from "node:buffer";
import {
  GlobalError,
  normalizeAddress,
  ProtocolError,
  parseTlvs,
  type Tlv,
  TlvBlock,
  tlvName,
} from "@impp/protocol";
import { RequestFailure } from "./request.js";

/** What a TLV's value is read as. */
export interface FieldKinds {
  /** UTF-8 text (invalid UTF-8 is INVALID_TLV_VALUE). */
  string: string;
  /** An address (§4.3 [decision]), canonical: lower-case, the server's own domain removed. */
  address: string;
  /** The raw value, a zero-copy view. */
  bytes: Buffer;
  u8: number;
  /** A u8 where any non-zero byte is true (clients differ in how they spell true). */
  flag: boolean;
  u16: number;
  u32: number;
  /** A u64 as a safe integer (timestamps in ms); above 2^53-1 is INVALID_TLV_VALUE. */
  u64: number;
  /** One TLV whose value is a sequence of u16 (CAPABILITIES); duplicates removed, order kept. */
  u16list: number[];
  /** A nested TLV block (a tuple). */
  block: TlvBlock;
}

export type FieldKind = keyof FieldKinds;

export interface FieldSpec {
  /** The TLV type. */
  readonly tlv: number;
  /** Other TLV numbers accepted for the same field (real clients disagree on some); first in block order wins. */
  readonly also?: readonly number[];
  readonly kind: FieldKind;
  /** Absent → INVALID_TLV_VALUE. */
  readonly required?: boolean;
  /** Every TLV of this type, in block order (the value is then an array, possibly empty). */
  readonly repeated?: boolean;
  /** string, address, bytes: bounds on the value's length in bytes. */
  readonly minBytes?: number;
  readonly maxBytes?: number;
  /** string: at most this many characters (code points), checked after maxBytes. */
  readonly maxChars?: number;
  /**
   * string: which characters a value may hold (a value with others is INVALID_TLV_VALUE, or `invalid`).
   * - "name" — no control characters at all (C0, DEL, C1), no line or paragraph separator, no bidi
   *   embedding/override/isolate (a name shown to others must not reorder or hide text): device names,
   *   nicknames, group names, account names.
   * - "line" — one line of text: no control characters except TAB (client descriptions).
   * - "multiline" — free text: no control characters except TAB, LF and CR (status messages).
   * Unset: any valid UTF-8 (message bodies, which are the client's own business).
   */
  readonly text?: TextClass;
  /** bytes: a fixed-size value; another length is INVALID_TLV_LENGTH (§6: bad fixed-size value). */
  readonly length?: number;
  /** Numbers (and each u16list entry): inclusive range. */
  readonly min?: number;
  readonly max?: number;
  /** u16list and repeated fields: at most this many entries. */
  readonly maxItems?: number;
  /** The code for a value outside these limits or not valid for its kind; default INVALID_TLV_VALUE. */
  readonly invalid?: number;
}

export type TextClass = "name" | "line" | "multiline";

const TEXT_CLASSES: ReadonlySet<string> = new Set<TextClass>(["name", "line", "multiline"]);

/** C0 controls, DEL and C1 controls, minus what the class allows. */
function refusedControl(c: number, cls: TextClass): boolean {
  if (c < 0x20) {
    if (cls === "name") return true;
    if (c === 0x09) return false;
    return cls === "line" || (c !== 0x0a && c !== 0x0d);
  }
  return c >= 0x7f && c <= 0x9f;
}

/** Whether `s` holds only characters its text class allows. */
export function textAllowed(s: string, cls: TextClass): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xa0) {
      if (refusedControl(c, cls)) return false;
      continue;
    }
    if (cls === "multiline" || c < 0x2028) continue;
    // Line and paragraph separators break a line; bidi embeddings, overrides and isolates reorder
    // what is shown around a name.
    if (c === 0x2028 || c === 0x2029) return false;
    if (cls === "name" && ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))) return false;
  }
  return true;
}

export type Shape = Readonly<Record<string, FieldSpec>>;

type ValueOf<F extends FieldSpec> = F extends { readonly repeated: true }
  ? FieldKinds[F["kind"]][]
  : F extends { readonly required: true }
    ? FieldKinds[F["kind"]]
    : FieldKinds[F["kind"]] | undefined;

/** The typed object a handler receives for a shape. */
export type Fields<S extends Shape> = { -readonly [K in keyof S]: ValueOf<S[K]> };

/** What parsing needs besides the block. */
export interface ParseContext {
  /** The server's domain, for address fields. */
  readonly domain: string;
}

export type ShapeParser<S extends Shape> = (
  block: Buffer,
  family: number,
  ctx: ParseContext,
) => Fields<S> | RequestFailure;

const KINDS: ReadonlySet<string> = new Set<FieldKind>([
  "string",
  "address",
  "bytes",
  "u8",
  "flag",
  "u16",
  "u32",
  "u64",
  "u16list",
  "block",
]);
const NUMERIC_MAX: Partial<Record<FieldKind, number>> = {
  u8: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  u16list: 0xffff,
};

/** Throws on a declaration that cannot be right (a programming error, caught at registration). */
export function checkShape(shape: Shape, where: string): void {
  const seen = new Map<number, string>();
  for (const [key, f] of Object.entries(shape)) {
    const at = `${where}: field "${key}"`;
    if (!KINDS.has(f.kind)) throw new Error(`${at} has unknown kind "${f.kind}"`);
    for (const t of [f.tlv, ...(f.also ?? [])]) {
      if (!Number.isInteger(t) || t < 0 || t > 0x7fff) throw new Error(`${at}: TLV type ${t} is not 0–32767`);
      const other = seen.get(t);
      if (other !== undefined) throw new Error(`${at}: TLV ${t} is already field "${other}"`);
      seen.set(t, key);
    }
    if (f.required && f.repeated) throw new Error(`${at} cannot be both required and repeated`);
    if (f.length !== undefined && f.kind !== "bytes") throw new Error(`${at}: length applies to bytes only`);
    if (f.maxChars !== undefined && f.kind !== "string")
      throw new Error(`${at}: maxChars applies to strings only`);
    if (f.text !== undefined && (f.kind !== "string" || !TEXT_CLASSES.has(f.text)))
      throw new Error(`${at}: text is "name", "line" or "multiline", on strings only`);
    const numeric = NUMERIC_MAX[f.kind] !== undefined || f.kind === "u64";
    if ((f.min !== undefined || f.max !== undefined) && !numeric) {
      throw new Error(`${at}: min/max apply to numbers only`);
    }
    if (f.min !== undefined && f.max !== undefined && f.min > f.max)
      throw new Error(`${at}: min is over max`);
  }
}

function kindName(family: number, type: number): string {
  return tlvName(family, type);
}

/**
 * Compiles a shape into one parse function: one walk over the block picks out the declared TLVs
 * (unknown ones are ignored, §2.2), then each field is read and checked in declaration order, so
 * the first problem in that order is the one answered.
 */
export function compileShape<S extends Shape>(shape: S, where = "request"): ShapeParser<S> {
  checkShape(shape, where);
  const keys = Object.keys(shape);
  const specs = keys.map((k) => shape[k]!);
  // TLV type → field index; a small table beats a Map for the hot path's few lookups.
  const slot = new Map<number, number>();
  specs.forEach((f, i) => {
    for (const t of [f.tlv, ...(f.also ?? [])]) slot.set(t, i);
  });

  return (block, family, ctx) => {
    const tlvs = block.length === 0 ? EMPTY : parseTlvs(block, family);
    if (tlvs instanceof ProtocolError) return new RequestFailure(tlvs.errorCode, tlvs.message);
    const found: Array<Tlv[] | undefined> = new Array(specs.length);
    for (const t of tlvs) {
      const i = slot.get(t.type);
      if (i === undefined) continue;
      const list = found[i];
      if (list === undefined) found[i] = [t];
      else if (specs[i]!.repeated) list.push(t);
    }
    const out: Record<string, unknown> = {};
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      const got = found[i];
      if (spec.repeated) {
        const values: unknown[] = [];
        if (got !== undefined) {
          if (spec.maxItems !== undefined && got.length > spec.maxItems) {
            return fail(spec, `more than ${spec.maxItems} ${kindName(family, spec.tlv)} TLVs`);
          }
          for (const t of got) {
            const v = readValue(spec, t, family, ctx);
            if (v instanceof RequestFailure) return v;
            values.push(v);
          }
        }
        out[keys[i]!] = values;
        continue;
      }
      if (got === undefined) {
        if (spec.required) {
          return new RequestFailure(
            GlobalError.INVALID_TLV_VALUE,
            `${kindName(family, spec.tlv)} is missing`,
          );
        }
        out[keys[i]!] = undefined;
        continue;
      }
      const v = readValue(spec, got[0]!, family, ctx);
      if (v instanceof RequestFailure) return v;
      out[keys[i]!] = v;
    }
    return out as Fields<S>;
  };
}

const EMPTY: Tlv[] = [];

function fail(spec: FieldSpec, reason: string): RequestFailure {
  return new RequestFailure(spec.invalid ?? GlobalError.INVALID_TLV_VALUE, reason);
}

function wrongLength(family: number, t: Tlv, want: string): RequestFailure {
  return new RequestFailure(
    GlobalError.INVALID_TLV_LENGTH,
    `TLV ${kindName(family, t.type)} has ${t.value.length} bytes, expected ${want}`,
  );
}

function inRange(spec: FieldSpec, family: number, t: Tlv, n: number): RequestFailure | undefined {
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
    return fail(spec, `${kindName(family, t.type)} ${n} is outside ${spec.min ?? 0}–${spec.max ?? "∞"}`);
  }
  return undefined;
}

function text(spec: FieldSpec, family: number, t: Tlv): string | RequestFailure {
  const v = t.value;
  if (spec.maxBytes !== undefined && v.length > spec.maxBytes) {
    return fail(spec, `${kindName(family, t.type)} is over ${spec.maxBytes} bytes`);
  }
  if (spec.minBytes !== undefined && v.length < spec.minBytes) {
    return fail(spec, `${kindName(family, t.type)} is under ${spec.minBytes} bytes`);
  }
  if (!isUtf8(v)) {
    return new RequestFailure(
      GlobalError.INVALID_TLV_VALUE,
      `TLV ${kindName(family, t.type)} is not valid UTF-8`,
    );
  }
  return v.toString("utf8");
}

function readValue(spec: FieldSpec, t: Tlv, family: number, ctx: ParseContext): unknown {
  const v = t.value;
  switch (spec.kind) {
    case "string": {
      const s = text(spec, family, t);
      if (s instanceof RequestFailure) return s;
      if (spec.maxChars !== undefined && s.length > spec.maxChars && [...s].length > spec.maxChars) {
        return fail(spec, `${kindName(family, t.type)} is over ${spec.maxChars} characters`);
      }
      if (spec.text !== undefined && !textAllowed(s, spec.text)) {
        return fail(spec, `${kindName(family, t.type)} holds a character a ${spec.text} may not`);
      }
      return s;
    }
    case "address": {
      const s = text(spec, family, t);
      if (s instanceof RequestFailure) return s;
      const a = normalizeAddress(s, ctx.domain);
      return a ?? fail(spec, `${kindName(family, t.type)} is not an address of this server`);
    }
    case "bytes":
      if (spec.length !== undefined && v.length !== spec.length)
        return wrongLength(family, t, String(spec.length));
      if (spec.maxBytes !== undefined && v.length > spec.maxBytes) {
        return fail(spec, `${kindName(family, t.type)} is over ${spec.maxBytes} bytes`);
      }
      if (spec.minBytes !== undefined && v.length < spec.minBytes) {
        return fail(spec, `${kindName(family, t.type)} is under ${spec.minBytes} bytes`);
      }
      return v;
    case "u8":
    case "flag": {
      if (v.length !== 1) return wrongLength(family, t, "1");
      if (spec.kind === "flag") return v[0]! !== 0;
      return inRange(spec, family, t, v[0]!) ?? v[0]!;
    }
    case "u16": {
      if (v.length !== 2) return wrongLength(family, t, "2");
      const n = (v[0]! << 8) | v[1]!;
      return inRange(spec, family, t, n) ?? n;
    }
    case "u32": {
      if (v.length !== 4) return wrongLength(family, t, "4");
      const n = v.readUInt32BE(0);
      return inRange(spec, family, t, n) ?? n;
    }
    case "u64": {
      if (v.length !== 8) return wrongLength(family, t, "8");
      const hi = v.readUInt32BE(0);
      if (hi > 0x1fffff) {
        return new RequestFailure(
          GlobalError.INVALID_TLV_VALUE,
          `TLV ${kindName(family, t.type)} does not fit in a safe integer`,
        );
      }
      const n = hi * 0x1_0000_0000 + v.readUInt32BE(4);
      return inRange(spec, family, t, n) ?? n;
    }
    case "u16list": {
      if (v.length % 2 !== 0) return wrongLength(family, t, "a multiple of 2");
      const out: number[] = [];
      const seen = new Set<number>();
      for (let i = 0; i < v.length; i += 2) {
        const n = (v[i]! << 8) | v[i + 1]!;
        if (seen.has(n)) continue;
        const bad = inRange(spec, family, t, n);
        if (bad !== undefined) return bad;
        seen.add(n);
        out.push(n);
        if (spec.maxItems !== undefined && out.length > spec.maxItems) {
          return fail(spec, `more than ${spec.maxItems} values in ${kindName(family, t.type)}`);
        }
      }
      return out;
    }
    case "block": {
      const inner = TlvBlock.parse(v, family);
      if (inner instanceof ProtocolError) {
        return new RequestFailure(inner.errorCode, `inside ${kindName(family, t.type)}: ${inner.message}`);
      }
      return inner;
    }
  }
}
