// @impp/protocol — the IMPP wire codec. Pure: no I/O, no dependencies beyond node:buffer and node:zlib.

export { ACCOUNT_NAME_MAX, isCanonicalAccountName, normalizeAddress } from "./address.js";
export * from "./compression.js";
export * from "./constants.js";
export * from "./decoder.js";
export * from "./errors.js";
export {
  clientVersionError,
  encodeError,
  encodeFrame,
  encodeFrameCompressed,
  encodeProtocolError,
  encodeVersion,
  type Frame,
  type PeekedHeader,
  peekHeader,
  type TlvFrame,
  type VersionFrame,
} from "./frame.js";
export {
  errorCodeOf,
  isLongTlv,
  readBlockSize,
  readFamily,
  readFlags,
  readHeader,
  readSequence,
  readType,
  readU16,
  readU32,
  readVersion,
  tlvEnd,
  tlvType,
  tlvValueStart,
} from "./header.js";
export * from "./json.js";
export {
  headerLine,
  type RenderOptions,
  renderBlockLine,
  renderFrameLines,
  type TlvRedactor,
} from "./render.js";
export {
  findTlvOverrun,
  parseTlvs,
  scanTlvs,
  TLVS_OK,
  type Tlv,
  TlvBlock,
  TlvWriter,
  TOO_MANY_TLVS,
  tooManyTlvs,
} from "./tlv.js";
