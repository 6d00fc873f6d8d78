// Bounds-checked primitive readers and writers for the envelopes. The reader never
// throws and never reads past the input: the first failure is recorded and every
// later read returns a harmless default, so decoders check once at the end.
import { isUtf8 } from "node:buffer";

export type EnvelopeErrorKind =
  | "TRUNCATED"
  | "BAD_VERSION"
  | "BAD_KIND"
  | "BAD_UTF8"
  | "BAD_VALUE"
  | "TRAILING_BYTES";

/** Why bytes from the network are not a valid envelope. A value, not thrown. */
export class EnvelopeError {
  readonly name = "EnvelopeError";
  constructor(
    readonly kind: EnvelopeErrorKind,
    readonly message: string,
    /** Byte offset where decoding stopped. */
    readonly offset: number,
  ) {}
}

export type EnvelopeEncodeErrorKind = "TOO_LONG" | "BAD_VALUE";

/** Thrown by encoders: the caller passed a value the format cannot carry (a programming error). */
export class EnvelopeEncodeError extends Error {
  override readonly name = "EnvelopeEncodeError";
  constructor(
    readonly kind: EnvelopeEncodeErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const MAX_STRING_BYTES = 255;
export const MAX_LIST_ITEMS = 0xffff;

export class Reader {
  private off = 0;
  error: EnvelopeError | undefined;
  private readonly view: Buffer;

  constructor(private readonly b: Uint8Array) {
    this.view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  fail(kind: EnvelopeErrorKind, message: string): void {
    this.error ??= new EnvelopeError(kind, message, this.off);
  }

  private need(n: number, what: string): boolean {
    if (this.error !== undefined) return false;
    if (this.b.length - this.off < n) {
      this.fail("TRUNCATED", `${what}: need ${n} bytes, ${this.b.length - this.off} left`);
      return false;
    }
    return true;
  }

  u8(what: string): number {
    if (!this.need(1, what)) return 0;
    return this.b[this.off++]!;
  }

  u16(what: string): number {
    if (!this.need(2, what)) return 0;
    const b = this.b;
    const o = this.off;
    this.off = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  u32(what: string): number {
    if (!this.need(4, what)) return 0;
    const b = this.b;
    const o = this.off;
    this.off = o + 4;
    return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  /** u8 length then UTF-8 bytes. */
  str(what: string): string {
    const len = this.u8(what);
    if (len === 0 || !this.need(len, what)) return "";
    const start = this.off;
    const end = start + len;
    this.off = end;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (this.b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return this.view.toString("latin1", start, end);
    if (!isUtf8(this.b.subarray(start, end))) {
      this.off = start;
      this.fail("BAD_UTF8", `${what}: not UTF-8`);
      return "";
    }
    return this.view.toString("utf8", start, end);
  }

  /** u16 count then that many u16 values. */
  u16List(what: string): number[] {
    const n = this.u16(what);
    if (n === 0 || !this.need(n * 2, what)) return [];
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.u16(what);
    return out;
  }

  /** u32 length then bytes, returned as a view into the input (no copy). */
  blob(what: string): Uint8Array {
    const len = this.u32(what);
    if (!this.need(len, what)) return this.b.subarray(0, 0);
    const start = this.off;
    this.off = start + len;
    return this.b.subarray(start, this.off);
  }

  /** The error to return, if any; also flags bytes left over after the envelope. */
  finish(): EnvelopeError | undefined {
    if (this.error === undefined && this.off !== this.b.length) {
      this.fail("TRAILING_BYTES", `${this.b.length - this.off} bytes after the envelope`);
    }
    return this.error;
  }
}

export function checkInt(what: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new EnvelopeEncodeError("BAD_VALUE", `${what} must be an integer in 0..${max}, got ${v}`);
  }
  return v;
}

/** Byte length of a string field, checked against the u8 length prefix. */
export function strLen(what: string, s: string): number {
  if (typeof s !== "string") throw new EnvelopeEncodeError("BAD_VALUE", `${what} must be a string`);
  const n = Buffer.byteLength(s, "utf8");
  if (n > MAX_STRING_BYTES) {
    throw new EnvelopeEncodeError("TOO_LONG", `${what} is ${n} bytes of UTF-8, at most ${MAX_STRING_BYTES}`);
  }
  return n;
}

export function listLen(what: string, list: readonly number[]): number {
  if (list.length > MAX_LIST_ITEMS) {
    throw new EnvelopeEncodeError("TOO_LONG", `${what} has ${list.length} items, at most ${MAX_LIST_ITEMS}`);
  }
  for (const v of list) checkInt(what, v, 0xffff);
  return 2 + 2 * list.length;
}

export function blobLen(what: string, b: Uint8Array): number {
  if (!(b instanceof Uint8Array)) throw new EnvelopeEncodeError("BAD_VALUE", `${what} must be bytes`);
  return 4 + b.length;
}

/** Writes into one buffer allocated up front by the encoder (sizes already validated). */
export class Writer {
  readonly buf: Buffer;
  private off = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  u8(v: number): void {
    this.buf[this.off++] = v;
  }

  u16(v: number): void {
    this.off = this.buf.writeUInt16BE(v, this.off);
  }

  u32(v: number): void {
    this.off = this.buf.writeUInt32BE(v, this.off);
  }

  /** s with its precomputed UTF-8 byte length. */
  str(s: string, len: number): void {
    this.buf[this.off++] = len;
    if (len > 0) this.off += this.buf.write(s, this.off, len, "utf8");
  }

  u16List(list: readonly number[]): void {
    this.u16(list.length);
    for (const v of list) this.u16(v);
  }

  blob(b: Uint8Array): void {
    this.u32(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** The buffer, after checking the size computation matched what was written. */
  done(): Buffer {
    if (this.off !== this.buf.length) {
      throw new Error(`envelope size mismatch: computed ${this.buf.length}, wrote ${this.off}`);
    }
    return this.buf;
  }
}
