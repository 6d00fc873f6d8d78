// Frames the edge writes on behalf of services (replies and deliveries): a concatenation of
// complete, uncompressed IMPP messages. They are checked once — a service bug must not put a
// corrupt stream on a client's wire — and, for compressed connections, deflated once however
// many connections receive them.
import {
  Channel,
  deflateBlock,
  readBlockSize,
  readFamily,
  START_BYTE,
  TLV_HEADER_SIZE,
  VERSION_FRAME_SIZE,
} from "@impp/protocol";

export class FramesError extends Error {
  override readonly name = "FramesError";
  readonly kind = "BAD_FRAMES" as const;
}

/** Family number used for version messages in per-family counts. */
export const VERSION_FAMILY = -1;

export class OutFrames {
  private deflated: Buffer | undefined;

  private constructor(
    /** The frames as received (a view, not a copy). */
    readonly bytes: Uint8Array,
    /** Start offset of each message. */
    readonly starts: readonly number[],
    /** Family of each message (VERSION_FAMILY for version messages). */
    readonly families: readonly number[],
  ) {}

  static parse(bytes: Uint8Array): OutFrames | FramesError {
    const starts: number[] = [];
    const families: number[] = [];
    let p = 0;
    while (p < bytes.length) {
      if (bytes[p] !== START_BYTE) return new FramesError(`byte ${p}: not a message start`);
      const channel = bytes[p + 1];
      if (channel === Channel.VERSION) {
        if (p + VERSION_FRAME_SIZE > bytes.length) return new FramesError(`byte ${p}: truncated version`);
        starts.push(p);
        families.push(VERSION_FAMILY);
        p += VERSION_FRAME_SIZE;
        continue;
      }
      if (channel !== Channel.TLV) return new FramesError(`byte ${p}: unknown channel ${channel}`);
      if (p + TLV_HEADER_SIZE > bytes.length) return new FramesError(`byte ${p}: truncated header`);
      const size = readBlockSize(bytes, p);
      if (size > bytes.length - p - TLV_HEADER_SIZE) return new FramesError(`byte ${p}: block overruns`);
      starts.push(p);
      families.push(readFamily(bytes, p));
      p += TLV_HEADER_SIZE + size;
    }
    return new OutFrames(bytes, starts, families);
  }

  get count(): number {
    return this.starts.length;
  }

  /** The same messages with every block as its own zlib stream (§2.6), computed on first use. */
  compressed(): Buffer {
    if (this.deflated !== undefined) return this.deflated;
    const parts: Buffer[] = [];
    let total = 0;
    const b = this.bytes;
    for (let i = 0; i < this.starts.length; i++) {
      const p = this.starts[i]!;
      if (this.families[i] === VERSION_FAMILY) {
        const v = Buffer.from(b.subarray(p, p + VERSION_FRAME_SIZE));
        parts.push(v);
        total += v.length;
        continue;
      }
      const end = i + 1 < this.starts.length ? this.starts[i + 1]! : b.length;
      parts.push(compressFrame(b, p, end));
      total += parts[parts.length - 1]!.length;
    }
    this.deflated = Buffer.concat(parts, total);
    return this.deflated;
  }
}

/** One TLV message [start, end) of `b` with its block deflated; the header is copied, size patched. */
export function compressFrame(b: Uint8Array, start: number, end: number): Buffer {
  const z = deflateBlock(b.subarray(start + TLV_HEADER_SIZE, end));
  const out = Buffer.allocUnsafe(TLV_HEADER_SIZE + z.length);
  out.set(b.subarray(start, start + 12), 0);
  out.writeUInt32BE(z.length, 12);
  out.set(z, TLV_HEADER_SIZE);
  return out;
}
