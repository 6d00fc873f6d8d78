// What an avatar may be (PROTOCOL.md §4.6 [decision]): a PNG, JPEG or GIF, recognised by its magic
// bytes, at most 65,535 bytes. Nothing else is parsed: clients decode the image, the server only
// refuses what is plainly not one.

/** [clients] The largest avatar: 65,535 bytes. */
export const MAX_AVATAR_BYTES = 65_535;

export type ImageKind = "png" | "jpeg" | "gif";

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG = Buffer.from([0xff, 0xd8, 0xff]);
const GIF87 = Buffer.from("GIF87a", "latin1");
const GIF89 = Buffer.from("GIF89a", "latin1");

const startsWith = (data: Uint8Array, magic: Buffer) =>
  data.length > magic.length && magic.equals(data.subarray(0, magic.length));

/** The image's kind by its first bytes, or undefined (empty, too large, or not one of the three). */
export function imageKind(data: Uint8Array): ImageKind | undefined {
  if (data.length > MAX_AVATAR_BYTES) return undefined;
  if (startsWith(data, PNG)) return "png";
  if (startsWith(data, JPEG)) return "jpeg";
  if (startsWith(data, GIF87) || startsWith(data, GIF89)) return "gif";
  return undefined;
}
