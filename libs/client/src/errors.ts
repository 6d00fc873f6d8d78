import type { ResponseFrame } from "./frames.js";

export type ClientErrorKind =
  /** TCP connect failed or did not finish in time. */
  | "CONNECT_FAILED"
  /** A step or request got no answer within its timeout; the connection stays up. */
  | "TIMEOUT"
  /** The connection closed (by the server, the network or us) before the answer came. */
  | "CLOSED"
  /** The server sent bytes the codec rejects; the client closed the connection. */
  | "PROTOCOL"
  /** The TLS handshake failed, or the server did not grant TLS where it was required. */
  | "TLS_FAILED"
  /** The server answered the version exchange with a different version than ours. */
  | "VERSION_REJECTED"
  /** FEATURES_SET was answered with an error. */
  | "FEATURES_REJECTED"
  /** AUTHENTICATE was answered with an error (connectAndLogin). */
  | "AUTH_FAILED"
  /** A LISTS request was answered with an error (befriend). */
  | "LIST_FAILED"
  /** DEVICE BIND was answered with an error (connectAndLogin). */
  | "BIND_FAILED";

export interface ClientErrorOptions {
  cause?: unknown;
  /** The error frame the server sent, when the failure is an IMPP error answer. */
  frame?: ResponseFrame;
}

export class ClientError extends Error {
  override readonly name = "ClientError";
  readonly kind: ClientErrorKind;
  readonly frame: ResponseFrame | undefined;

  constructor(kind: ClientErrorKind, message: string, options: ClientErrorOptions = {}) {
    super(`${kind}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.frame = options.frame;
  }

  /** The ERRORCODE of the server's error frame, when there is one. */
  get errorCode(): number | undefined {
    return this.frame?.errorCode;
  }
}

export function isClientError(x: unknown, kind?: ClientErrorKind): x is ClientError {
  return x instanceof ClientError && (kind === undefined || x.kind === kind);
}
