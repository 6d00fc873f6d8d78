import { GlobalError } from "./constants.js";

export type ProtocolErrorKind =
  | "BAD_START_BYTE"
  | "UNKNOWN_CHANNEL"
  | "BLOCK_TOO_LARGE"
  | "TLV_OVERRUN"
  | "TOO_MANY_TLVS"
  | "BAD_VALUE_LENGTH"
  | "BAD_VALUE"
  | "INFLATE_FAILED"
  | "INFLATED_TOO_LARGE"
  | "BAD_VERSION_FRAME";

export interface FrameHeader {
  flags: number;
  family: number;
  type: number;
  sequence: number;
}

/**
 * What the server answers (PROTOCOL.md §2.5, §6) and whether the byte stream can go on.
 * Inflate failures are not fatal: the frame was well framed, so the stream stays in sync and
 * only that request fails — the same treatment §6 gives a TLV overrunning a well-framed block.
 */
const KIND_DEFAULTS: Readonly<Record<ProtocolErrorKind, { errorCode: number; fatal: boolean }>> = {
  BAD_START_BYTE: { errorCode: GlobalError.INVALID_CONNECTION, fatal: true },
  UNKNOWN_CHANNEL: { errorCode: GlobalError.INVALID_CONNECTION, fatal: true },
  BLOCK_TOO_LARGE: { errorCode: GlobalError.INVALID_TLV_LENGTH, fatal: true },
  TLV_OVERRUN: { errorCode: GlobalError.INVALID_TLV_LENGTH, fatal: false },
  // A well-framed block with more TLVs than the server's bound: that request fails, the stream goes on.
  TOO_MANY_TLVS: { errorCode: GlobalError.INVALID_TLV_LENGTH, fatal: false },
  BAD_VALUE_LENGTH: { errorCode: GlobalError.INVALID_TLV_LENGTH, fatal: false },
  BAD_VALUE: { errorCode: GlobalError.INVALID_TLV_VALUE, fatal: false },
  INFLATE_FAILED: { errorCode: GlobalError.INVALID_TLV_LENGTH, fatal: false },
  INFLATED_TOO_LARGE: { errorCode: GlobalError.INVALID_TLV_LENGTH, fatal: false },
  // A client version below 8 (§2.1): answered with version 8, then closed.
  BAD_VERSION_FRAME: { errorCode: GlobalError.INVALID_CONNECTION, fatal: true },
};

export interface ProtocolErrorOptions {
  header?: FrameHeader;
  /** TLV type the error is about, when there is one. */
  tlvType?: number;
  /** Byte offset in the input (stream offset for the decoder, block offset for TLV walks). */
  offset?: number;
  errorCode?: number;
  fatal?: boolean;
}

/** A decode failure as a value. Never thrown by the codec; returned alongside results. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly kind: ProtocolErrorKind;
  /** The global error code the server sends for it. */
  readonly errorCode: number;
  /** The byte stream cannot continue: send the error, then close. */
  readonly fatal: boolean;
  /** Present when the frame header was readable, so the error can echo family/type/sequence. */
  readonly header?: FrameHeader;
  readonly tlvType?: number;
  readonly offset?: number;

  constructor(kind: ProtocolErrorKind, message: string, options: ProtocolErrorOptions = {}) {
    super(`${kind}: ${message}`);
    const defaults = KIND_DEFAULTS[kind];
    this.kind = kind;
    this.errorCode = options.errorCode ?? defaults.errorCode;
    this.fatal = options.fatal ?? defaults.fatal;
    if (options.header !== undefined) this.header = options.header;
    if (options.tlvType !== undefined) this.tlvType = options.tlvType;
    if (options.offset !== undefined) this.offset = options.offset;
  }

  /** The same error, tied to a frame header (TLV errors are found before the caller knows the frame). */
  withHeader(header: FrameHeader): ProtocolError {
    return new ProtocolError(this.kind, this.message.slice(this.kind.length + 2), {
      header,
      tlvType: this.tlvType,
      offset: this.offset,
      errorCode: this.errorCode,
      fatal: this.fatal,
    });
  }
}

export function isProtocolError(x: unknown): x is ProtocolError {
  return x instanceof ProtocolError;
}
