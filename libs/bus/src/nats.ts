// The NATS Bus: the distributed mode's transport, over the v3 NATS client. It
// adds what the contract needs on top of the client: errors as BusError kinds,
// contained handler failures, and a close() that drains like the in-process bus.
import { readFileSync } from "node:fs";
import {
  type Authenticator,
  ClosedConnectionError,
  type NodeConnectionOptions as ConnectionOptions,
  connect,
  createInbox,
  credsAuthenticator,
  DrainingConnectionError,
  InvalidArgumentError,
  InvalidSubjectError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
  NoRespondersError,
  headers as natsHeaders,
  nkeyAuthenticator,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import {
  type Bus,
  type BusCommonOptions,
  BusError,
  type BusMessage,
  DEFAULT_DRAIN_TIMEOUT_MS,
  defaultHandlerErrorReporter,
  type Headers,
  type MessageHandler,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
} from "./bus.js";
import { HandlerRunner } from "./handlers.js";
import { headersWireSize, normalizeHeaders } from "./headers.js";
import { settledWithin } from "./settle.js";
import { isPublishSubject, isSubscribeSubject } from "./subject-syntax.js";

export interface NatsBusOptions extends BusCommonOptions {
  /** One server URL, or several separated by commas. */
  url: string;
  /** Shown in the NATS server's monitoring as this client's name. */
  name?: string;
  /** How long the first connection attempt may take. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Namespace for every subject (`<prefix>.impp.req.4`), so several IMPP networks — or test runs —
   * can share one NATS without answering each other's requests. Reply inboxes are not prefixed.
   */
  subjectPrefix?: string;
  /**
   * How to authenticate, besides credentials in the URL (`nats://user:pass@host`, or
   * `nats://token@host`). At most one kind: token, user + password, an nkey seed file, or a
   * creds file (JWT + seed, as `nsc` writes it).
   */
  auth?: NatsAuth;
  /** TLS to NATS: a CA file to verify the server with (implies TLS, as a tls:// URL does). */
  tls?: { caFile?: string };
}

export interface NatsAuth {
  token?: string;
  user?: string;
  password?: string;
  /** A file holding an nkey seed (SU…). */
  nkeySeedFile?: string;
  /** A creds file (user JWT and nkey seed). */
  credsFile?: string;
}

/**
 * The servers without userinfo, and the credentials found in it: `user:pass@` is user/password,
 * a lone `token@` a token (the NATS URL conventions the Go and Java clients follow). The JS client
 * ignores userinfo in server URLs, so without this `nats://u:p@host` connects without credentials.
 * Several servers may repeat the same credentials; different ones are refused.
 */
export function natsConnectOptions(opts: Pick<NatsBusOptions, "url" | "auth" | "tls">): ConnectionOptions {
  const servers: string[] = [];
  let fromUrl: { user: string; pass: string } | { token: string } | undefined;
  let fromUrlKey: string | undefined;
  for (const raw of opts.url.split(",")) {
    const s = raw.trim();
    if (s.length === 0) continue;
    const withScheme = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new BusError("CONNECTION", `not a NATS server URL: ${redact(s)}`);
    }
    if (u.username !== "" || u.password !== "") {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      const creds = pass === "" && !s.includes(":@") ? { token: user } : { user, pass };
      const key = JSON.stringify(creds);
      if (fromUrlKey !== undefined && key !== fromUrlKey) {
        throw new BusError("CONNECTION", "the NATS server URLs carry different credentials");
      }
      fromUrl = creds;
      fromUrlKey = key;
      u.username = "";
      u.password = "";
    }
    servers.push(u.toString().replace(/\/$/, ""));
  }
  const out: ConnectionOptions = { servers };
  const a = opts.auth ?? {};
  const kinds = [
    a.token !== undefined && "a token",
    (a.user !== undefined || a.password !== undefined) && "a user and password",
    a.nkeySeedFile !== undefined && "an nkey seed",
    a.credsFile !== undefined && "a creds file",
    fromUrl !== undefined && "credentials in the URL",
  ].filter((k): k is string => k !== false);
  if (kinds.length > 1) {
    throw new BusError("CONNECTION", `NATS credentials given more than one way: ${kinds.join(", ")}`);
  }
  if (fromUrl !== undefined) {
    if ("token" in fromUrl) out.token = fromUrl.token;
    else {
      out.user = fromUrl.user;
      out.pass = fromUrl.pass;
    }
  }
  if (a.token !== undefined) out.token = a.token;
  if (a.user !== undefined || a.password !== undefined) {
    if (a.user === undefined || a.password === undefined)
      throw new BusError("CONNECTION", "a NATS user needs a password, and a password a user");
    out.user = a.user;
    out.pass = a.password;
  }
  const authenticators: Authenticator[] = [];
  if (a.nkeySeedFile !== undefined) {
    const seed = Buffer.from(readSecretFile(a.nkeySeedFile, "NATS nkey seed")).toString("utf8").trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  if (a.credsFile !== undefined) {
    authenticators.push(credsAuthenticator(readSecretFile(a.credsFile, "NATS creds")));
  }
  if (authenticators.length > 0) out.authenticator = authenticators;
  if (opts.tls?.caFile !== undefined) {
    // Read here so a missing file is named at start, not as a handshake failure.
    readSecretFile(opts.tls.caFile, "NATS CA");
    out.tls = { caFile: opts.tls.caFile };
  }
  return out;
}

function readSecretFile(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new BusError(
      "CONNECTION",
      `cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
}

const FALLBACK_MAX_PAYLOAD = 1024 * 1024;

function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (h === undefined) return undefined;
  const out = natsHeaders();
  for (const k in h) out.set(k, h[k]!);
  return out;
}

function fromNatsHeaders(h: MsgHdrs | undefined): Headers | undefined {
  if (h === undefined) return undefined;
  let out: Headers | undefined;
  for (const [k, values] of h) {
    const v = values[0];
    if (v === undefined) continue;
    out ??= {};
    out[k] = v;
  }
  return out;
}

/** Userinfo must not end up in logs through error messages. */
function redact(url: string): string {
  return url.replace(/(^|,|\/\/)[^@/,]*@/g, "$1***@");
}

class NatsMessage implements BusMessage {
  private convertedHeaders: Headers | undefined | null = null;

  constructor(
    private readonly bus: NatsBus,
    private readonly msg: Msg,
  ) {}

  get subject(): string {
    return this.bus.unprefixed(this.msg.subject);
  }
  get data(): Uint8Array {
    return this.msg.data;
  }
  get reply(): string | undefined {
    return this.msg.reply || undefined;
  }
  /** Converted on first use: most handlers never look at headers. */
  get headers(): Headers | undefined {
    if (this.convertedHeaders === null) this.convertedHeaders = fromNatsHeaders(this.msg.headers);
    return this.convertedHeaders;
  }

  respond(data: Uint8Array, headers?: Headers): boolean {
    const reply = this.reply;
    if (reply === undefined) return false;
    this.bus.publishTo(reply, data, headers);
    return true;
  }
}

/** A publish (or a request's) waiting for the end of the event loop's turn. */
interface Outgoing {
  subject: string;
  data: Uint8Array;
  opts: { reply?: string; headers?: MsgHdrs } | undefined;
  /** A request's: rejects it when the client refuses the publish. */
  fail: ((e: BusError) => void) | undefined;
}

interface SubState {
  active: boolean;
  nats: NatsSubscription | undefined;
}

class NatsBusSubscription implements Subscription {
  constructor(
    private readonly bus: NatsBus,
    private readonly state: SubState,
    readonly subject: string,
  ) {}
  unsubscribe(): void {
    this.bus.remove(this.state);
  }
}

type State = "open" | "closing" | "closed";

class NatsBus implements Bus {
  readonly kind = "nats" as const;
  get handlerErrors(): number {
    return this.handlers.errors;
  }

  private state: State = "open";
  private closing: Promise<void> | undefined;
  private readonly subs = new Set<SubState>();
  private readonly pending = new Set<(e: BusError) => void>();
  // Our own reply inbox: one subscription for every request, like the client's muxed inbox, but
  // without the client's per-request bookkeeping (it builds an Error with a stack for every
  // request it completes — the largest nats cost in the edge's profile).
  private replyPrefix: string | undefined;
  private readonly replies = new Map<string, { ok: (m: Msg) => void; fail: (e: BusError) => void }>();
  private replySeq = 0;
  private readonly handlers: HandlerRunner;
  private readonly drainTimeoutMs: number;
  // Publishes wait here until the event loop's turn is over, then go to the client together: it
  // writes what it holds once its microtasks have run, which is once per I/O callback — an edge
  // reading 50 client sockets in one poll phase made 50 writes to NATS, now one (see sendQueued).
  private outbox: Outgoing[] = [];
  private outboxArmed = false;
  /** "" or "<subjectPrefix>." */
  private readonly ns: string;

  constructor(
    private readonly nc: NatsConnection,
    opts: NatsBusOptions,
  ) {
    this.handlers = new HandlerRunner(opts.onHandlerError ?? defaultHandlerErrorReporter);
    this.drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.ns = opts.subjectPrefix ? `${opts.subjectPrefix}.` : "";
    // With endless reconnects this only happens on a fatal error (say, revoked
    // credentials): fail everything from then on rather than hang.
    void nc.closed().then(() => {
      if (this.state === "closed") return;
      this.state = "closed";
      this.rejectPending(new BusError("CONNECTION", "the NATS connection closed"));
    });
  }

  get maxPayload(): number {
    return this.nc.info?.max_payload ?? FALLBACK_MAX_PAYLOAD;
  }

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    this.publishTo(this.ns + subject, data, headers);
  }

  /** Publishes to a subject as it is on the wire (a reply inbox, or an already prefixed subject). */
  publishTo(wireSubject: string, data: Uint8Array, headers?: Headers): void {
    const h = this.checkPublish(wireSubject, data, headers);
    this.checkSendable(wireSubject);
    this.queue({
      subject: wireSubject,
      data,
      opts: h === undefined ? undefined : { headers: h },
      fail: undefined,
    });
  }

  /** What the client would refuse at publish: said now, though the publish itself goes out later. */
  private checkSendable(subject: string): void {
    if (this.nc.isClosed()) throw this.mapError(new ClosedConnectionError(), subject);
    if (this.nc.isDraining()) throw this.mapError(new DrainingConnectionError(), subject);
  }

  private queue(o: Outgoing): void {
    this.outbox.push(o);
    if (this.outboxArmed) return;
    this.outboxArmed = true;
    setImmediate(NatsBus.sendQueuedLater, this);
  }

  private static sendQueuedLater(self: NatsBus): void {
    self.outboxArmed = false;
    self.sendQueued();
  }

  /**
   * Hands every queued publish to the client, in order. Also called before anything else that
   * goes to the server (SUB, UNSUB, PING for flush, drain), so the server sees the operations in
   * the order they were made.
   */
  private sendQueued(): void {
    const out = this.outbox;
    if (out.length === 0) return;
    this.outbox = [];
    for (const o of out) {
      try {
        this.nc.publish(o.subject, o.data, o.opts);
      } catch (e) {
        // The connection closed or began draining since: a request fails now rather than time out;
        // a publish is lost, as it would be in the client's buffer of a connection that closes.
        o.fail?.(this.mapError(e, this.unprefixed(o.subject)));
      }
    }
  }

  unprefixed(wireSubject: string): string {
    return this.ns !== "" && wireSubject.startsWith(this.ns)
      ? wireSubject.slice(this.ns.length)
      : wireSubject;
  }

  subscribe(subject: string, handler: MessageHandler, opts?: SubscribeOptions): Subscription {
    if (this.state !== "open") throw new BusError("CLOSED", "bus is closed");
    if (!isSubscribeSubject(subject)) throw new BusError("BAD_SUBJECT", `invalid subject: ${subject}`);
    const queue = opts?.queue;
    if (queue !== undefined && (queue.length === 0 || /\s/.test(queue))) {
      throw new BusError("BAD_SUBJECT", `invalid queue group: ${queue}`);
    }
    const state: SubState = { active: true, nats: undefined };
    this.sendQueued();
    try {
      state.nats = this.nc.subscribe(this.ns + subject, {
        ...(queue === undefined ? {} : { queue }),
        callback: (err, msg) => {
          if (err !== null) {
            // Asynchronous subscription failures (permissions) have no caller to throw to.
            this.handlers.report(err, subject);
            return;
          }
          if (state.active) this.handlers.run(handler, new NatsMessage(this, msg));
        },
      });
    } catch (e) {
      throw this.mapError(e, subject);
    }
    this.subs.add(state);
    return new NatsBusSubscription(this, state, subject);
  }

  request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
    if (this.state !== "open") return Promise.reject(new BusError("CLOSED", "bus is closed"));
    let headers: MsgHdrs | undefined;
    try {
      headers = this.checkPublish(subject, data, opts.headers);
    } catch (e) {
      return Promise.reject(e);
    }
    let prefix: string;
    try {
      this.checkSendable(subject);
      prefix = this.replyInbox();
    } catch (e) {
      return Promise.reject(this.mapError(e, subject));
    }
    const token = (this.replySeq++).toString(36);
    return new Promise<BusMessage>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.replies.delete(token);
        this.pending.delete(fail);
      };
      const fail = (e: BusError): void => {
        done();
        reject(e);
      };
      const ok = (m: Msg): void => {
        done();
        // The server answers a request nobody subscribes to with an empty 503 status message.
        if (m.data.length === 0 && m.headers?.code === 503) {
          reject(new BusError("NO_RESPONDERS", `no responders for ${subject}`));
        } else {
          resolve(new NatsMessage(this, m));
        }
      };
      timer = setTimeout(
        () => {
          fail(new BusError("TIMEOUT", `request to ${subject} timed out after ${opts.timeoutMs} ms`));
        },
        Math.max(1, opts.timeoutMs),
      );
      this.replies.set(token, { ok, fail });
      this.pending.add(fail);
      this.queue({
        subject: this.ns + subject,
        data,
        opts: headers === undefined ? { reply: prefix + token } : { reply: prefix + token, headers },
        fail,
      });
    });
  }

  /** The reply subject prefix, subscribing `<inbox>.*` on first use. */
  private replyInbox(): string {
    if (this.replyPrefix !== undefined) return this.replyPrefix;
    const prefix = `${createInbox()}.`;
    this.sendQueued();
    this.nc.subscribe(`${prefix}*`, {
      callback: (err, m) => {
        // A subscription error (permissions, connection closed) leaves pending requests to their
        // timeout or to close(), which reject them with a named error.
        if (err !== null) return;
        this.replies.get(m.subject.slice(prefix.length))?.ok(m);
      },
    });
    this.replyPrefix = prefix;
    return prefix;
  }

  async flush(): Promise<void> {
    if (this.state === "closed") throw new BusError("CLOSED", "bus is closed");
    this.sendQueued();
    try {
      await this.nc.flush();
    } catch (e) {
      throw this.mapError(e, "");
    }
  }

  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  remove(state: SubState): void {
    if (!state.active) return;
    state.active = false;
    this.subs.delete(state);
    if (this.state === "closed") return;
    this.sendQueued();
    try {
      state.nats?.unsubscribe();
    } catch {
      // Already gone with the connection: nothing left to stop.
    }
  }

  private async drainAndClose(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closing";
    const deadline = Date.now() + this.drainTimeoutMs;
    // sub.drain() unsubscribes and waits for a server round trip, so messages
    // published before close() are still handled. The muxed request inbox is not
    // drained yet: replies to handlers' own requests can still arrive.
    this.sendQueued();
    const drains = [...this.subs].map((s) => s.nats?.drain());
    await settledWithin(
      drains.filter((p) => p !== undefined),
      Math.max(1, deadline - Date.now()),
    );
    await this.handlers.settle(deadline);
    this.state = "closed";
    for (const s of this.subs) s.active = false;
    this.subs.clear();
    this.rejectPending(new BusError("CLOSED", "bus closed before the reply arrived"));
    // Replies the handlers sent while they finished.
    this.sendQueued();
    const drained = this.nc.drain().catch(() => undefined);
    if (!(await settledWithin([drained], Math.max(1, deadline - Date.now())))) {
      // The server is unreachable: drop what cannot be sent rather than hang shutdown.
      await this.nc.close().catch(() => undefined);
    }
  }

  private rejectPending(e: BusError): void {
    for (const fail of [...this.pending]) fail(e);
  }

  private checkPublish(subject: string, data: Uint8Array, headers: Headers | undefined): MsgHdrs | undefined {
    if (this.state === "closed") throw new BusError("CLOSED", "bus is closed");
    if (!isPublishSubject(subject)) throw new BusError("BAD_SUBJECT", `invalid subject: ${subject}`);
    const h = normalizeHeaders(headers);
    const size = data.length + headersWireSize(h);
    if (size > this.maxPayload) {
      throw new BusError("PAYLOAD_TOO_LARGE", `message of ${size} bytes exceeds ${this.maxPayload}`);
    }
    return toNatsHeaders(h);
  }

  private mapError(e: unknown, subject: string, timeoutMs?: number): BusError {
    if (e instanceof BusError) return e;
    const options = { cause: e };
    if (e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders())) {
      return new BusError("NO_RESPONDERS", `no responders for ${subject}`, options);
    }
    if (e instanceof TimeoutError) {
      return new BusError("TIMEOUT", `request to ${subject} timed out after ${timeoutMs ?? "?"} ms`, options);
    }
    if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError) {
      return new BusError("CLOSED", "bus is closed", options);
    }
    if (e instanceof InvalidSubjectError)
      return new BusError("BAD_SUBJECT", `invalid subject: ${subject}`, options);
    if (e instanceof InvalidArgumentError && e.message.includes("max_payload")) {
      return new BusError("PAYLOAD_TOO_LARGE", e.message, options);
    }
    const message = e instanceof Error ? e.message : String(e);
    if (this.state !== "open") return new BusError("CLOSED", `bus is closed (${message})`, options);
    return new BusError("CONNECTION", message, options);
  }
}

export async function connectNatsBus(opts: NatsBusOptions): Promise<Bus> {
  if (
    opts.subjectPrefix !== undefined &&
    opts.subjectPrefix !== "" &&
    !isPublishSubject(opts.subjectPrefix)
  ) {
    throw new BusError("BAD_SUBJECT", `invalid subject prefix: ${opts.subjectPrefix}`);
  }
  const base = natsConnectOptions(opts);
  let nc: NatsConnection;
  try {
    nc = await connect({
      ...base,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      timeout: opts.connectTimeoutMs ?? 5000,
      // Once up, never give up: a NATS restart must not take the process down.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // A dead server is noticed in ~1 minute, not the client's default ~4.
      pingInterval: 20_000,
      maxPingOut: 3,
      // Saves an Error (and stack capture) per request; BusError carries its own.
      noAsyncTraces: true,
    });
  } catch (e) {
    const message = redact(e instanceof Error ? e.message : String(e));
    throw new BusError("CONNECTION", `cannot connect to NATS at ${redact(opts.url)}: ${message}`, {
      cause: e,
    });
  }
  return new NatsBus(nc, opts);
}
