import { Channel, START_BYTE } from "./constants.js";
import type { FrameHeader } from "./errors.js";

/** Writes the 16 bytes before a TLV block. Header fields are trusted (our own code builds them). */
export function writeHeader(buf: Buffer, at: number, h: FrameHeader, blockSize: number): void {
  if (
    !(
      h.flags >= 0 &&
      h.flags <= 0xffff &&
      h.family >= 0 &&
      h.family <= 0xffff &&
      h.type >= 0 &&
      h.type <= 0xffff
    )
  ) {
    throw new RangeError(`frame header field out of u16 range: ${JSON.stringify(h)}`);
  }
  if (!(h.sequence >= 0 && h.sequence <= 0xffffffff))
    throw new RangeError(`sequence ${h.sequence} is not a u32`);
  buf[at] = START_BYTE;
  buf[at + 1] = Channel.TLV;
  buf[at + 2] = h.flags >>> 8;
  buf[at + 3] = h.flags & 0xff;
  buf[at + 4] = h.family >>> 8;
  buf[at + 5] = h.family & 0xff;
  buf[at + 6] = h.type >>> 8;
  buf[at + 7] = h.type & 0xff;
  buf.writeUInt32BE(h.sequence >>> 0, at + 8);
  buf.writeUInt32BE(blockSize, at + 12);
}
