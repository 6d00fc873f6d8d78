// The Bus: the only way services and edges talk to each other. Two implementations
// (in-process and NATS) pass one contract suite, so nothing above this layer may
// depend on which one runs.

/** Small string headers; carries trace context (`traceparent`) and the like. */
export type Headers = Record<string, string>;

export interface BusMessage {
  readonly subject: string;
  /** Read-only: with the in-process bus every subscriber (and the publisher) shares these bytes. */
  readonly data: Uint8Array;
  readonly headers: Headers | undefined;
  readonly reply: string | undefined;
  /** Publishes to the reply subject; false when the message carried none. */
  respond(data: Uint8Array, headers?: Headers): boolean;
}

export interface Subscription {
  /** Stops delivery at once, including messages already on their way. Idempotent. */
  unsubscribe(): void;
  readonly subject: string;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to ONE member of the group (and to every non-queue subscriber). */
  queue?: string;
}

export interface RequestOptions {
  timeoutMs: number;
  headers?: Headers;
}

export type MessageHandler = (msg: BusMessage) => void | Promise<void>;

export interface Bus {
  /**
   * Takes ownership of data: do not modify it afterwards (the NATS client sends it
   * later from its outbound queue; the in-process bus hands it to subscribers).
   * Throws BusError CLOSED / BAD_SUBJECT / BAD_HEADER / PAYLOAD_TOO_LARGE (data plus encoded headers) / CONNECTION. */
  publish(subject: string, data: Uint8Array, headers?: Headers): void;
  /**
   * NATS wildcards: `*` matches one token, `>` (last token only) one or more.
   * Throws BusError CLOSED / BAD_SUBJECT.
   */
  subscribe(subject: string, handler: MessageHandler, opts?: SubscribeOptions): Subscription;
  /** Rejects with BusError NO_RESPONDERS (at once, when nobody subscribes), TIMEOUT, CLOSED or CONNECTION. */
  request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage>;
  /** Everything published so far has reached the server (in-process: its delivery is scheduled). */
  flush(): Promise<void>;
  /**
   * Drains: stops taking subscriptions and requests, delivers what was already
   * published, waits (bounded) for running handlers so their replies go out, then
   * rejects pending requests with CLOSED. Idempotent; afterwards every other call
   * fails with BusError CLOSED.
   */
  close(): Promise<void>;
  readonly kind: "nats" | "memory";
  /** Largest message publish accepts, in bytes: data plus encoded headers. */
  readonly maxPayload: number;
  /** Handler exceptions and rejections contained so far. */
  readonly handlerErrors: number;
}

export type BusErrorKind =
  | "NO_RESPONDERS"
  | "TIMEOUT"
  | "CLOSED"
  | "CONNECTION"
  | "BAD_SUBJECT"
  | "BAD_HEADER"
  | "PAYLOAD_TOO_LARGE";

export class BusError extends Error {
  override readonly name = "BusError";
  constructor(
    readonly kind: BusErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function isBusError(e: unknown, kind?: BusErrorKind): e is BusError {
  return e instanceof BusError && (kind === undefined || e.kind === kind);
}

/** Options both implementations accept. */
export interface BusCommonOptions {
  /**
   * Called for every handler exception or rejection (after it is counted). The
   * default writes one line to stderr; services pass their logger.
   */
  onHandlerError?: (error: unknown, subject: string) => void;
  /** How long close() waits for running handlers before giving up on them. Default 5000. */
  drainTimeoutMs?: number;
}

export const DEFAULT_DRAIN_TIMEOUT_MS = 5000;

export function defaultHandlerErrorReporter(error: unknown, subject: string): void {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`bus: handler for ${subject} failed: ${text}\n`);
}
