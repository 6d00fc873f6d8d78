// Turning a request into reply frames: the parts every service's handlers share.
import type { ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import {
  EXTENSION_RANGE_START,
  encodeError,
  Flags,
  GlobalError,
  type ProtocolError,
  type TlvWriter,
} from "@impp/protocol";

/** Why a request is refused: the error code that goes on the wire, and a reason for the log. */
export class RequestFailure {
  readonly kind = "REQUEST_FAILURE" as const;
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {}
}

export function isFailure(v: unknown): v is RequestFailure {
  return v instanceof RequestFailure;
}

/** A codec error on a request TLV becomes the code §6 gives it (INVALID_TLV_LENGTH / INVALID_TLV_VALUE). */
export function fromProtocolError(e: ProtocolError): RequestFailure {
  return new RequestFailure(e.errorCode, e.message);
}

export function invalidValue(reason: string): RequestFailure {
  return new RequestFailure(GlobalError.INVALID_TLV_VALUE, reason);
}

/** §6: errors and responses carry the extension bit when the request was in the extension range or had it. */
export function isExtension(req: RequestEnvelope): boolean {
  return (
    (req.flags & Flags.EXTENSION) !== 0 ||
    req.family >= EXTENSION_RANGE_START ||
    req.type >= EXTENSION_RANGE_START
  );
}

export function errorFrame(req: RequestEnvelope, code: number, extra?: Uint8Array): Buffer {
  return encodeError(req.family, req.type, req.sequence, code, extra, isExtension(req));
}

export function errorReply(req: RequestEnvelope, code: number, actions = 0): ReplyEnvelope {
  return { actions, frames: errorFrame(req, code) };
}

export function responseFrame(req: RequestEnvelope, body: TlvWriter): Buffer {
  return body.frame({
    flags: Flags.RESPONSE | (isExtension(req) ? Flags.EXTENSION : 0),
    family: req.family,
    type: req.type,
    sequence: req.sequence,
  });
}

/** A zero-copy Buffer view of envelope bytes (TlvBlock works on Buffers). */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
