// Small valid images for tests (magic bytes and a little body; never decoded by the server).
import { randomBytes } from "node:crypto";

/** The 1×1 GIF of the protocol fixtures. */
export const GIF = Buffer.from(
  "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b",
  "hex",
);
export const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);

/** A distinct "PNG" of `size` bytes (magic bytes, then random). */
export function fakePng(size = 200): Buffer {
  return Buffer.concat([PNG_MAGIC, randomBytes(Math.max(1, size - PNG_MAGIC.length))]);
}
export function fakeJpeg(size = 200): Buffer {
  return Buffer.concat([JPEG_MAGIC, randomBytes(Math.max(1, size - JPEG_MAGIC.length))]);
}
