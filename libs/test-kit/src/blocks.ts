// Request blocks and frames as a client writes them.
import { DeviceTlv, encodeFrame, StreamTlv, TlvWriter } from "@impp/protocol";

/** STREAM AUTHENTICATE: mechanism 1 (password), NAME, PASSWORD. */
export function authenticateBlock(name: string, password = "pw"): Buffer {
  return new TlvWriter()
    .u16(StreamTlv.MECHANISM, 1)
    .string(StreamTlv.NAME, name)
    .string(StreamTlv.PASSWORD, password)
    .finish();
}

/** DEVICE BIND: DEVICE_NAME and CAPABILITIES. */
export function bindBlock(device: string, caps: number[]): Buffer {
  return new TlvWriter().string(DeviceTlv.DEVICE_NAME, device).u16list(DeviceTlv.CAPABILITIES, caps).finish();
}

/** STREAM FEATURES_SET: the FEATURES asked for. */
export function featuresBlock(features: number): Buffer {
  return new TlvWriter().u16(StreamTlv.FEATURES, features).finish();
}

/** One TLV frame, its block sent as given (already compressed, or not, by the caller). */
export function frameBytes(
  flags: number,
  family: number,
  type: number,
  sequence: number,
  block: Uint8Array | TlvWriter = Buffer.alloc(0),
): Buffer {
  return encodeFrame({ flags, family, type, sequence }, block instanceof TlvWriter ? block.finish() : block);
}
