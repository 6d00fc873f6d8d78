// The edge's session state machine as pure functions: given what the session has reached and a
// request header, what to do with it (PROTOCOL.md §1, §2, §4.1, §6). No I/O here, so every rule
// is unit-tested directly.
import {
  EXTENSION_RANGE_START,
  FAMILIES,
  Family,
  Feature,
  Flags,
  GlobalError,
  PROTOCOL_VERSION,
  StreamError,
  StreamType,
} from "@impp/protocol";

/** How far the session has come. Numbers only grow, except CLEAR_DEVICE taking BOUND back to LOGGED_IN. */
export const Phase = {
  /** Plain TCP on the in-band port: only the version exchange, FEATURES_SET and PING. */
  PRE_TLS: 0,
  /** TLS is up; waiting for AUTHENTICATE. */
  PRE_AUTH: 1,
  /** Logged in; waiting for DEVICE BIND. */
  LOGGED_IN: 2,
  /** A device is bound: every family is open and families run concurrently. */
  BOUND: 3,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

export interface SessionView {
  readonly phase: Phase;
  /** FEATURES_SET has succeeded once. */
  readonly featuresDone: boolean;
  /** An AUTHENTICATE has been sent to the auth service (FEATURES_SET is only allowed before it). */
  readonly authStarted: boolean;
}

export type Decision =
  /** The edge answers with a TIMESTAMP itself. */
  | { readonly kind: "ping" }
  /** The edge negotiates features itself (then starts TLS when needed). */
  | { readonly kind: "features" }
  /** Goes to the family's service over the bus. */
  | { readonly kind: "route" }
  /** Answer with this error; `close` = then close the connection. */
  | { readonly kind: "error"; readonly code: number; readonly close: boolean; readonly extension: boolean };

const PING: Decision = { kind: "ping" };
const FEATURES: Decision = { kind: "features" };
const ROUTE: Decision = { kind: "route" };

/** Response, indication and error bits: a client only ever sends requests. */
const NON_REQUEST_FLAGS = Flags.RESPONSE | Flags.INDICATION | Flags.ERROR;

const KNOWN_TYPES: ReadonlyMap<number, ReadonlySet<number>> = new Map(
  Object.values(FAMILIES).map((spec) => [spec.value, new Set(Object.values(spec.types))]),
);

/** §6: an error carries the extension bit when its request was in the extension range or carried the bit. */
export function isExtensionRequest(flags: number, family: number, type: number): boolean {
  return (flags & Flags.EXTENSION) !== 0 || family >= EXTENSION_RANGE_START || type >= EXTENSION_RANGE_START;
}

function error(code: number, extension: boolean, close = false): Decision {
  return { kind: "error", code, close, extension };
}

export function decide(s: SessionView, flags: number, family: number, type: number): Decision {
  const ext = isExtensionRequest(flags, family, type);
  const isRequest = (flags & NON_REQUEST_FLAGS) === 0;

  // §1: before TLS nothing but FEATURES_SET and PING; anything else is fatal.
  if (s.phase === Phase.PRE_TLS) {
    if (isRequest && family === Family.STREAM) {
      if (type === StreamType.PING) return PING;
      if (type === StreamType.FEATURES_SET) return FEATURES;
    }
    return error(GlobalError.INVALID_STATE, ext, true);
  }

  if (!isRequest) return error(GlobalError.INVALID_STATE, ext);
  // The MSB of family and type is reserved; extension families (0x4000–0x7fff) are all unimplemented,
  // with or without the extension bit.
  const types = KNOWN_TYPES.get(family);
  if (types === undefined) return error(GlobalError.INVALID_TLV_FAMILY, ext);
  if (!types.has(type)) return error(GlobalError.INVALID_TLV_VALUE, ext);

  if (family === Family.STREAM) {
    if (type === StreamType.PING) return PING;
    if (type === StreamType.FEATURES_SET) {
      return s.phase === Phase.PRE_AUTH && !s.featuresDone && !s.authStarted
        ? FEATURES
        : error(GlobalError.INVALID_STATE, ext);
    }
    // AUTHENTICATE: only while not logged in.
    return s.phase === Phase.PRE_AUTH ? ROUTE : error(GlobalError.INVALID_STATE, ext);
  }
  if (s.phase === Phase.PRE_AUTH) return error(GlobalError.INVALID_STATE, ext);
  const isBind = family === Family.DEVICE && type === 1;
  if (s.phase === Phase.LOGGED_IN) return isBind ? ROUTE : error(GlobalError.INVALID_STATE, ext);
  return isBind ? error(GlobalError.INVALID_STATE, ext) : ROUTE;
}

export type FeaturesResult =
  | {
      readonly ok: true;
      readonly features: number;
      readonly compression: boolean;
      readonly startTls: boolean;
    }
  | { readonly ok: false; readonly code: number };

const KNOWN_FEATURES = Feature.TLS | Feature.COMPRESSION;

/**
 * §4.1 FEATURES_SET: unknown bits and (on the plain port) a missing TLS bit are FEATURE_INVALID;
 * compression is granted only when the server allows it; on the TLS-first listener TLS is already on,
 * so it is reported on without a second handshake.
 */
export function negotiateFeatures(
  requested: number,
  tlsUp: boolean,
  compressionAllowed: boolean,
): FeaturesResult {
  if ((requested & ~KNOWN_FEATURES) !== 0) return { ok: false, code: StreamError.FEATURE_INVALID };
  if (!tlsUp && (requested & Feature.TLS) === 0) return { ok: false, code: StreamError.FEATURE_INVALID };
  const compression = compressionAllowed && (requested & Feature.COMPRESSION) !== 0;
  return {
    ok: true,
    features: Feature.TLS | (compression ? Feature.COMPRESSION : 0),
    compression,
    startTls: !tlsUp,
  };
}

export type VersionResult =
  /** Echo `reply` (the client's own version: one client compares byte for byte). */
  | { readonly kind: "echo"; readonly reply: number }
  /** Too old: answer with our version, then close. */
  | { readonly kind: "reject"; readonly reply: number }
  /** A version message after the first one is ignored. */
  | { readonly kind: "ignore" };

export function versionReply(clientVersion: number, alreadyExchanged: boolean): VersionResult {
  if (alreadyExchanged) return { kind: "ignore" };
  if (clientVersion >= PROTOCOL_VERSION) return { kind: "echo", reply: clientVersion };
  return { kind: "reject", reply: PROTOCOL_VERSION };
}
