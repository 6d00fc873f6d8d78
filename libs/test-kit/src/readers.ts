// Reading what a peer sent: whole replies (frames, only), one frame's TLVs and error code, and a
// byte stream frame by frame (FrameReader). All of it on @impp/protocol's decoder and TLV parser.
import {
  ERRORCODE_TLV,
  Flags,
  type Frame,
  FrameDecoder,
  inflateBlock,
  ProtocolError,
  TlvBlock,
  type TlvFrame,
  type VersionFrame,
} from "@impp/protocol";

/** A TLV frame read off a session: `block` inflated when the session is compressed, `wire` as it came. */
export interface WireTlvFrame extends TlvFrame {
  /** The block as it came off the wire (a zlib stream when compression was on). */
  wire: Buffer;
}
export type WireFrame = VersionFrame | WireTlvFrame;

/** Every frame in `bytes`, which must be whole TLV frames with well-formed TLVs and nothing after them. */
export function frames(bytes: Uint8Array): TlvFrame[] {
  const d = new FrameDecoder();
  d.push(Buffer.from(bytes));
  const out: TlvFrame[] = [];
  for (;;) {
    const f = d.next();
    if (f === null) break;
    if (f instanceof ProtocolError) throw f;
    if (f.channel !== 2) throw new Error("unexpected version frame");
    out.push(f);
  }
  if (d.buffered !== 0) throw new Error(`${d.buffered} trailing bytes`);
  return out;
}

/** The single frame in `bytes` (a reply holding exactly one). */
export function only(bytes: Uint8Array): TlvFrame {
  const fs = frames(bytes);
  if (fs.length !== 1) throw new Error(`expected one frame, got ${fs.length}`);
  return fs[0]!;
}

export function assertTlv(f: Frame | null | undefined): asserts f is TlvFrame {
  if (f === null || f === undefined || f.channel !== 2)
    throw new Error(`expected a TLV frame, got ${JSON.stringify(f)}`);
}

/** The TLVs of a TLV frame (throws if it is none, or its block does not parse). */
export function tlvs(f: Frame | null | undefined): TlvBlock {
  assertTlv(f);
  const b = TlvBlock.parse(f.block, f.family);
  if (b instanceof ProtocolError) throw b;
  return b;
}

/** The ERRORCODE of an error frame (throws if it is not one). */
export function errorCode(f: Frame | null | undefined): number {
  assertTlv(f);
  if ((f.flags & Flags.ERROR) === 0) throw new Error(`not an error frame (flags ${f.flags})`);
  const c = tlvs(f).u16(ERRORCODE_TLV);
  if (typeof c !== "number") throw new Error("error frame without ERRORCODE");
  return c;
}

/**
 * A byte stream, frame by frame: push what arrives, take frames while `next()` has one. While
 * `compression` is on, each TLV frame's block is inflated (`wire` keeps it as it came). TLVs are
 * not checked here — `tlvs()` parses the block it is given.
 */
export class FrameReader {
  /** Blocks are zlib streams: from the next frame taken on. */
  compression = false;
  private readonly decoder: FrameDecoder;

  /** `maxBlockSize` bounds a block both on the wire and inflated. */
  constructor(readonly maxBlockSize = 64 * 1024 * 1024) {
    this.decoder = new FrameDecoder({ checkTlvs: false, maxBlockSize });
  }

  push(chunk: Buffer): void {
    this.decoder.push(chunk);
  }

  /** The next frame, a ProtocolError (fatal ones repeat), or null when more bytes are needed. */
  next(): WireFrame | ProtocolError | null {
    const f = this.decoder.next();
    if (f === null || f instanceof ProtocolError || f.channel === 1) return f;
    const block = this.compression ? inflateBlock(f.block, this.maxBlockSize) : f.block;
    if (block instanceof ProtocolError) return block;
    return { ...f, block, wire: f.block };
  }
}
