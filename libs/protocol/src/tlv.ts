import { isUtf8 } from "node:buffer";
import { TLV_HEADER_SIZE, TLV_LONG_LENGTH, tlvName } from "./constants.js";
import type { FrameHeader } from "./errors.js";
import { ProtocolError } from "./errors.js";
import { tlvEnd, tlvType, tlvValueStart, writeHeader } from "./header.js";

export interface Tlv {
  /** Without the 0x8000 length-form bit. */
  type: number;
  /** Zero-copy view into the block. */
  value: Buffer;
  /** Written with a u32 length although the value fits in u16 (kept so a re-encode is byte-exact). */
  wide: boolean;
}

/**
 * Walks a TLV block without allocating. Returns -1 when every TLV fits, else the offset of the
 * first TLV whose type/length header or value runs past `end`.
 */
export function findTlvOverrun(buf: Uint8Array, start: number, end: number): number {
  let p = start;
  while (p < end) {
    const next = tlvEnd(buf, p);
    if (next > end) return p;
    p = next;
  }
  return -1;
}

/** scanTlvs: every TLV fits and there are at most `maxTlvs`. */
export const TLVS_OK = -1;
/** scanTlvs: the block holds more than `maxTlvs` TLVs (the walk stopped there). */
export const TOO_MANY_TLVS = -2;

/**
 * findTlvOverrun with a bound on the number of TLVs: TLVS_OK, TOO_MANY_TLVS (found as soon as TLV
 * number maxTlvs+1 starts, so the walk costs at most maxTlvs steps), or the offset of the first
 * overrunning TLV. 65,535 empty TLVs fit in a 256 KiB block: the bound is what keeps one request's
 * walk (and every later parse of it) small.
 */
export function scanTlvs(buf: Uint8Array, start: number, end: number, maxTlvs: number): number {
  let p = start;
  let n = 0;
  while (p < end) {
    if (++n > maxTlvs) return TOO_MANY_TLVS;
    const next = tlvEnd(buf, p);
    if (next > end) return p;
    p = next;
  }
  return TLVS_OK;
}

export function tooManyTlvs(maxTlvs: number, header?: FrameHeader): ProtocolError {
  return new ProtocolError("TOO_MANY_TLVS", `the block holds more than ${maxTlvs} TLVs`, { header });
}

/**
 * TLV_OVERRUN for the TLV at `at`, which runs past the end of block [start, end): its type when
 * that much of it is there, named after `family` when known. `offset` is the error's offset.
 */
export function tlvOverrun(
  buf: Uint8Array,
  start: number,
  end: number,
  at: number,
  family: number | undefined,
  offset: number,
  header?: FrameHeader,
): ProtocolError {
  const type = at + 2 <= end ? tlvType(buf, at) : undefined;
  const what =
    type === undefined ? "a TLV header" : `TLV ${family === undefined ? type : tlvName(family, type)}`;
  return new ProtocolError(
    "TLV_OVERRUN",
    `${what} at block offset ${at - start} runs past the end of its ${end - start}-byte block`,
    { header, offset, tlvType: type },
  );
}

/** Splits a block into its TLVs (values are zero-copy views). A TLV overrunning the block is TLV_OVERRUN. */
export function parseTlvs(block: Buffer, family?: number): Tlv[] | ProtocolError {
  const out: Tlv[] = [];
  const end = block.length;
  let p = 0;
  while (p < end) {
    const next = tlvEnd(block, p);
    if (next > end) return tlvOverrun(block, 0, end, p, family, p);
    const start = tlvValueStart(block, p);
    out.push({
      type: tlvType(block, p),
      value: block.subarray(start, next),
      wide: start - p === 6 && next - start <= 0xffff,
    });
    p = next;
  }
  return out;
}

function lengthError(family: number | undefined, type: number, got: number, want: string): ProtocolError {
  const name = family === undefined ? String(type) : tlvName(family, type);
  return new ProtocolError("BAD_VALUE_LENGTH", `TLV ${name} has ${got} bytes, expected ${want}`, {
    tlvType: type,
  });
}

/** Typed, validating accessors over one parsed TLV block. */
export class TlvBlock {
  readonly tlvs: readonly Tlv[];
  /** Used only to name TLVs in error messages. */
  readonly family: number | undefined;

  private constructor(tlvs: readonly Tlv[], family: number | undefined) {
    this.tlvs = tlvs;
    this.family = family;
  }

  static parse(block: Buffer, family?: number): TlvBlock | ProtocolError {
    const tlvs = parseTlvs(block, family);
    if (tlvs instanceof ProtocolError) return tlvs;
    return new TlvBlock(tlvs, family);
  }

  static of(tlvs: readonly Tlv[], family?: number): TlvBlock {
    return new TlvBlock(tlvs, family);
  }

  has(type: number): boolean {
    for (const t of this.tlvs) if (t.type === type) return true;
    return false;
  }

  first(type: number): Buffer | undefined {
    for (const t of this.tlvs) if (t.type === type) return t.value;
    return undefined;
  }

  all(type: number): Buffer[] {
    const out: Buffer[] = [];
    for (const t of this.tlvs) if (t.type === type) out.push(t.value);
    return out;
  }

  /** First of several types present (e.g. PASSWORD or PASSWORD_ALT, DEVICE_TUPLE or its alternative number). */
  firstOf(...types: number[]): Buffer | undefined {
    for (const t of this.tlvs) if (types.includes(t.type)) return t.value;
    return undefined;
  }

  private fixed(type: number, size: number): Buffer | undefined | ProtocolError {
    const v = this.first(type);
    if (v === undefined || v.length === size) return v;
    return lengthError(this.family, type, v.length, String(size));
  }

  u8(type: number): number | undefined | ProtocolError {
    const v = this.fixed(type, 1);
    return v === undefined || v instanceof ProtocolError ? v : v[0]!;
  }

  u16(type: number): number | undefined | ProtocolError {
    const v = this.fixed(type, 2);
    return v === undefined || v instanceof ProtocolError ? v : (v[0]! << 8) | v[1]!;
  }

  u32(type: number): number | undefined | ProtocolError {
    const v = this.fixed(type, 4);
    return v === undefined || v instanceof ProtocolError ? v : v.readUInt32BE(0);
  }

  u64(type: number): bigint | undefined | ProtocolError {
    const v = this.fixed(type, 8);
    return v === undefined || v instanceof ProtocolError ? v : v.readBigUInt64BE(0);
  }

  /** A u64 as a JS number (timestamps in ms); a value above 2^53-1 is BAD_VALUE. */
  u64number(type: number): number | undefined | ProtocolError {
    const v = this.fixed(type, 8);
    if (v === undefined || v instanceof ProtocolError) return v;
    const hi = v.readUInt32BE(0);
    if (hi > 0x1fffff) {
      return new ProtocolError("BAD_VALUE", `TLV ${this.name(type)} does not fit in a safe integer`, {
        tlvType: type,
      });
    }
    return hi * 0x1_0000_0000 + v.readUInt32BE(4);
  }

  /** UTF-8 text; invalid UTF-8 is BAD_VALUE. */
  string(type: number): string | undefined | ProtocolError {
    const v = this.first(type);
    if (v === undefined) return undefined;
    return decodeUtf8(v, type, this.family);
  }

  /** Every TLV of `type` as text (list TLVs such as CONTACT_ADDRESS or MEMBER). */
  strings(type: number): string[] | ProtocolError {
    const out: string[] = [];
    for (const t of this.tlvs) {
      if (t.type !== type) continue;
      const s = decodeUtf8(t.value, type, this.family);
      if (s instanceof ProtocolError) return s;
      out.push(s);
    }
    return out;
  }

  /** One TLV whose value is a sequence of u16 (CAPABILITIES). */
  u16list(type: number): number[] | undefined | ProtocolError {
    const v = this.first(type);
    if (v === undefined) return undefined;
    if (v.length % 2 !== 0) return lengthError(this.family, type, v.length, "a multiple of 2");
    const out: number[] = new Array(v.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = (v[2 * i]! << 8) | v[2 * i + 1]!;
    return out;
  }

  /** The first TLV of `type` parsed as a nested block (a tuple). */
  nested(type: number): TlvBlock | undefined | ProtocolError {
    const v = this.first(type);
    if (v === undefined) return undefined;
    return nestedBlock(v, type, this.family);
  }

  /** Every TLV of `type` parsed as a nested block (e.g. one DEVICE_TUPLE per device). */
  nestedAll(type: number): TlvBlock[] | ProtocolError {
    const out: TlvBlock[] = [];
    for (const t of this.tlvs) {
      if (t.type !== type) continue;
      const b = nestedBlock(t.value, type, this.family);
      if (b instanceof ProtocolError) return b;
      out.push(b);
    }
    return out;
  }

  private name(type: number): string {
    return this.family === undefined ? String(type) : tlvName(this.family, type);
  }
}

function decodeUtf8(v: Buffer, type: number, family: number | undefined): string | ProtocolError {
  if (!isUtf8(v)) {
    const name = family === undefined ? String(type) : tlvName(family, type);
    return new ProtocolError("BAD_VALUE", `TLV ${name} is not valid UTF-8`, { tlvType: type });
  }
  return v.toString("utf8");
}

function nestedBlock(v: Buffer, type: number, family: number | undefined): TlvBlock | ProtocolError {
  const inner = TlvBlock.parse(v, family);
  if (inner instanceof ProtocolError) {
    const name = family === undefined ? String(type) : tlvName(family, type);
    return new ProtocolError("TLV_OVERRUN", `inside TLV ${name}: ${inner.message}`, { tlvType: type });
  }
  return inner;
}

const INITIAL_CAPACITY = 256;

/**
 * Builds a TLV block in one growing buffer (no Buffer per TLV). The first 16 bytes are kept free
 * so `frame(header)` can write the TLV header in place: a whole message costs one allocation.
 */
export class TlvWriter {
  private buf: Buffer;
  private pos = TLV_HEADER_SIZE;

  constructor(capacity = INITIAL_CAPACITY) {
    this.buf = Buffer.allocUnsafe(TLV_HEADER_SIZE + capacity);
  }

  /** Bytes of TLV block written so far. */
  get length(): number {
    return this.pos - TLV_HEADER_SIZE;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private head(type: number, len: number): void {
    checkType(type);
    const b = this.buf;
    let p = this.pos;
    if (len > 0xffff) {
      const t = type | TLV_LONG_LENGTH;
      b[p++] = t >>> 8;
      b[p++] = t & 0xff;
      b.writeUInt32BE(len, p);
      p += 4;
    } else {
      b[p++] = type >>> 8;
      b[p++] = type & 0xff;
      b[p++] = len >>> 8;
      b[p++] = len & 0xff;
    }
    this.pos = p;
  }

  u8(type: number, v: number): this {
    checkUint(v, 0xff);
    this.ensure(5);
    this.head(type, 1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(type: number, v: number): this {
    checkUint(v, 0xffff);
    this.ensure(6);
    this.head(type, 2);
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u32(type: number, v: number): this {
    checkUint(v, 0xffffffff);
    this.ensure(8);
    this.head(type, 4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  u64(type: number, v: bigint | number): this {
    this.ensure(12);
    this.head(type, 8);
    if (typeof v === "bigint") {
      this.buf.writeBigUInt64BE(v, this.pos);
    } else {
      if (!Number.isSafeInteger(v) || v < 0)
        throw new RangeError(`u64 value ${v} is not a safe unsigned integer`);
      this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.pos);
      this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    }
    this.pos += 8;
    return this;
  }

  string(type: number, s: string): this {
    checkType(type);
    const n = s.length;
    // Short ASCII (addresses, names, most messages) is copied by hand: cheaper than Buffer#write's
    // call overhead. Anything else goes through the UTF-8 encoder.
    if (n <= 64) {
      this.ensure(4 + n);
      const b = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[at + 4 + i] = c;
      }
      if (i === n) {
        b[at] = type >>> 8;
        b[at + 1] = type & 0xff;
        b[at + 2] = 0;
        b[at + 3] = n;
        this.pos = at + 4 + n;
        return this;
      }
    }
    // Write the text first and the length after: one pass, no Buffer.byteLength.
    this.ensure(6 + n * 3);
    const at = this.pos;
    const written = this.buf.write(s, at + 4, "utf8");
    if (written > 0xffff) {
      this.buf.copyWithin(at + 6, at + 4, at + 4 + written);
      this.head(type, written);
    } else {
      this.buf[at] = type >>> 8;
      this.buf[at + 1] = type & 0xff;
      this.buf[at + 2] = written >>> 8;
      this.buf[at + 3] = written & 0xff;
      this.pos = at + 4;
    }
    this.pos += written;
    return this;
  }

  /** Raw bytes. `wide` forces the u32 length form even for a short value (readers accept both). */
  bytes(type: number, b: Uint8Array, wide = false): this {
    this.ensure(6 + b.length);
    if (wide) {
      checkType(type);
      const t = type | TLV_LONG_LENGTH;
      this.buf[this.pos] = t >>> 8;
      this.buf[this.pos + 1] = t & 0xff;
      this.buf.writeUInt32BE(b.length, this.pos + 2);
      this.pos += 6;
    } else {
      this.head(type, b.length);
    }
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** One TLV whose value is the u16 sequence (CAPABILITIES). */
  u16list(type: number, values: readonly number[]): this {
    const len = values.length * 2;
    this.ensure(6 + len);
    this.head(type, len);
    for (const v of values) {
      checkUint(v, 0xffff);
      this.buf[this.pos++] = v >>> 8;
      this.buf[this.pos++] = v & 0xff;
    }
    return this;
  }

  /** A tuple: a TLV whose value is another TLV block. */
  nested(type: number, inner: TlvWriter | Uint8Array): this {
    return this.bytes(type, inner instanceof TlvWriter ? inner.view() : inner);
  }

  /** Appends already-encoded TLV bytes (e.g. extra TLVs of an error block). */
  raw(encoded: Uint8Array): this {
    this.ensure(encoded.length);
    this.buf.set(encoded, this.pos);
    this.pos += encoded.length;
    return this;
  }

  /** The block written so far, as a view of the internal buffer (valid until the next write). */
  private view(): Buffer {
    return this.buf.subarray(TLV_HEADER_SIZE, this.pos);
  }

  /** The TLV block. A view of the writer's buffer: do not keep writing to this writer afterwards. */
  finish(): Buffer {
    return this.buf.subarray(TLV_HEADER_SIZE, this.pos);
  }

  /** A complete TLV-channel message with this block, built in place (no copy of the block). */
  frame(header: FrameHeader): Buffer {
    writeHeader(this.buf, 0, header, this.pos - TLV_HEADER_SIZE);
    return this.buf.subarray(0, this.pos);
  }
}

function checkType(type: number): void {
  if (!(type >= 0 && type <= 0x7fff && Number.isInteger(type))) {
    throw new RangeError(`TLV type ${type} is outside 0..32767`);
  }
}

function checkUint(v: number, max: number): void {
  if (!(v >= 0 && v <= max && Number.isInteger(v))) throw new RangeError(`value ${v} is outside 0..${max}`);
}
