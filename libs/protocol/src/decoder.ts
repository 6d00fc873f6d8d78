import { Channel, DEFAULT_MAX_BLOCK, START_BYTE, TLV_HEADER_SIZE, VERSION_FRAME_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { Frame } from "./frame.js";
import { blockTooLarge, hex2 } from "./frame.js";
import {
  readBlockSize,
  readFamily,
  readFlags,
  readHeader,
  readSequence,
  readType,
  readVersion,
} from "./header.js";
import { findTlvOverrun, scanTlvs, TLVS_OK, TOO_MANY_TLVS, tlvOverrun, tooManyTlvs } from "./tlv.js";

const EMPTY = Buffer.alloc(0);

export interface FrameDecoderOptions {
  /** Largest accepted block size on the wire (default 256 KiB). */
  maxBlockSize?: number;
  /**
   * Walk each block's TLVs and report one overrunning its block as a non-fatal TLV_OVERRUN
   * (default true). Turn off once compression is on: the block is then a zlib stream, and the
   * TLVs are checked after inflating (parseTlvs / TlvBlock.parse).
   */
  checkTlvs?: boolean;
  /**
   * With checkTlvs: a block holding more TLVs than this is a non-fatal TOO_MANY_TLVS
   * (INVALID_TLV_LENGTH for that request). Default: unbounded.
   */
  maxTlvs?: number;
}

/**
 * Splits a byte stream into frames. Chunks holding whole frames are sliced in place; only a frame
 * that straddles chunks is copied — exactly its own bytes, once all of them have arrived (so a
 * frame trickling in one byte at a time is not re-copied per byte, and the chunk after it is not
 * copied at all). A block size is checked against the limit as soon as its header is readable,
 * before waiting for or buffering the block.
 */
export class FrameDecoder {
  /** May be changed between frames (the edge raises it once a session has logged in). */
  maxBlockSize: number;
  checkTlvs: boolean;
  maxTlvs: number;
  private cur: Buffer = EMPTY;
  private pos = 0;
  /** Chunks after `cur`, from index `restHead` on (an index, not shift(): O(1) per chunk). */
  private rest: Buffer[] = [];
  private restHead = 0;
  private restLen = 0;
  /** Stream offset of cur[0], for error messages. */
  private base = 0;
  private failed: ProtocolError | null = null;

  constructor(opts: FrameDecoderOptions = {}) {
    this.maxBlockSize = opts.maxBlockSize ?? DEFAULT_MAX_BLOCK;
    this.checkTlvs = opts.checkTlvs ?? true;
    this.maxTlvs = opts.maxTlvs ?? Number.POSITIVE_INFINITY;
  }

  /** Bytes held and not yet returned as frames. */
  get buffered(): number {
    return this.cur.length - this.pos + this.restLen;
  }

  /** Bytes of input buffers kept alive (whole chunks, including consumed parts still sharing one). */
  get retained(): number {
    return (this.pos < this.cur.length ? this.cur.length : 0) + this.restLen;
  }

  /** The fatal error the stream stopped on, if any. */
  get error(): ProtocolError | null {
    return this.failed;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failed !== null) return;
    if (this.pos >= this.cur.length && this.restLen === 0) {
      this.base += this.cur.length;
      this.cur = chunk;
      this.pos = 0;
    } else {
      this.rest.push(chunk);
      this.restLen += chunk.length;
    }
  }

  /** The next frame, a ProtocolError, or null when more bytes are needed. A fatal error repeats forever. */
  next(): Frame | ProtocolError | null {
    if (this.failed !== null) return this.failed;
    // Fast path: a whole TLV frame (or at least its header) sits in the current chunk.
    const buf = this.cur;
    const pos = this.pos;
    const avail = buf.length - pos;
    if (avail >= TLV_HEADER_SIZE && buf[pos] === START_BYTE && buf[pos + 1] === Channel.TLV) {
      const size = readBlockSize(buf, pos);
      const end = pos + TLV_HEADER_SIZE + size;
      if (size <= this.maxBlockSize && end <= buf.length) {
        const start = pos + TLV_HEADER_SIZE;
        this.pos = end;
        if (this.checkTlvs && size > 0) {
          const scan = scanTlvs(buf, start, end, this.maxTlvs);
          if (scan === TOO_MANY_TLVS) return tooManyTlvs(this.maxTlvs, readHeader(buf, pos));
          if (scan !== TLVS_OK) return this.overrun(buf, pos, start, end);
        }
        return {
          channel: 2,
          flags: readFlags(buf, pos),
          family: readFamily(buf, pos),
          type: readType(buf, pos),
          sequence: readSequence(buf, pos),
          block: buf.subarray(start, end),
        };
      }
    }
    return this.slow();
  }

  /** Everything the fast path does not cover: version frames, errors, frames split across chunks. */
  private slow(): Frame | ProtocolError | null {
    if (this.pos >= this.cur.length) {
      if (this.restLen === 0) return null;
      this.shift();
    }
    const total = this.buffered;
    if (this.cur[this.pos] !== START_BYTE) {
      return this.fail(
        new ProtocolError("BAD_START_BYTE", `expected 0x6f, got 0x${hex2(this.cur[this.pos]!)}`, {
          offset: this.base + this.pos,
        }),
      );
    }
    if (total < 2) return null;
    if (!this.have(2)) this.join(2);
    const channel = this.cur[this.pos + 1]!;
    if (channel === Channel.VERSION) {
      if (total < VERSION_FRAME_SIZE) return null;
      if (!this.have(VERSION_FRAME_SIZE)) this.join(VERSION_FRAME_SIZE);
      const p = this.pos;
      this.pos = p + VERSION_FRAME_SIZE;
      return { channel: 1, version: readVersion(this.cur, p) };
    }
    if (channel !== Channel.TLV) {
      return this.fail(
        new ProtocolError("UNKNOWN_CHANNEL", `unknown channel 0x${hex2(channel)}`, {
          offset: this.base + this.pos + 1,
        }),
      );
    }
    if (total < TLV_HEADER_SIZE) return null;
    if (!this.have(TLV_HEADER_SIZE)) this.join(TLV_HEADER_SIZE);
    const size = readBlockSize(this.cur, this.pos);
    if (size > this.maxBlockSize) {
      return this.fail(
        blockTooLarge(readHeader(this.cur, this.pos), size, this.maxBlockSize, this.base + this.pos),
      );
    }
    const frameLen = TLV_HEADER_SIZE + size;
    if (total < frameLen) return null;
    if (!this.have(frameLen)) this.join(frameLen);
    // The whole frame is now contiguous in `cur`: the fast path takes it.
    return this.next();
  }

  private have(n: number): boolean {
    return this.cur.length - this.pos >= n;
  }

  /** Makes the next pending chunk current (no copy). */
  private shift(): void {
    const next = this.rest[this.restHead]!;
    this.rest[this.restHead++] = EMPTY;
    if (this.restHead === this.rest.length) {
      this.rest = [];
      this.restHead = 0;
    }
    this.base += this.cur.length;
    this.restLen -= next.length;
    this.cur = next;
    this.pos = 0;
  }

  /**
   * Copies exactly the next `n` buffered bytes (n ≤ buffered, and n ≤ 16 + maxBlockSize, both
   * checked by the caller) into one buffer that becomes `cur`; what follows stays in place.
   */
  private join(n: number): void {
    const out = Buffer.allocUnsafe(n);
    let filled = this.cur.copy(out, 0, this.pos, Math.min(this.cur.length, this.pos + n));
    while (filled < n) {
      const c = this.rest[this.restHead]!;
      const take = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, take);
      filled += take;
      this.restLen -= take;
      if (take === c.length) {
        this.rest[this.restHead++] = EMPTY;
      } else {
        this.rest[this.restHead] = c.subarray(take);
      }
    }
    if (this.restHead === this.rest.length) {
      this.rest = [];
      this.restHead = 0;
    }
    this.base += this.pos;
    this.cur = out;
    this.pos = 0;
  }

  private overrun(buf: Buffer, pos: number, start: number, end: number): ProtocolError {
    const at = findTlvOverrun(buf, start, end);
    const header = readHeader(buf, pos);
    return tlvOverrun(buf, start, end, at, header.family, this.base + at, header);
  }

  private fail(err: ProtocolError): ProtocolError {
    this.failed = err;
    this.base += this.pos;
    this.cur = EMPTY;
    this.pos = 0;
    this.rest = [];
    this.restHead = 0;
    this.restLen = 0;
    return err;
  }
}
