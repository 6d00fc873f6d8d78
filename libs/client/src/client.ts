import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import net from "node:net";
import tls from "node:tls";
import {
  AvatarType,
  Capability,
  DeviceTlv,
  DeviceType,
  EXTENSION_RANGE_START,
  encodeFrame,
  encodeFrameCompressed,
  encodeVersion,
  Family,
  Feature,
  Flags,
  FrameDecoder,
  familyName,
  GroupChatsType,
  ImType,
  inflateBlock,
  ListsType,
  PresenceTlv,
  PresenceType,
  ProtocolError,
  StreamTlv,
  StreamType,
  TlvBlock,
  type TlvFrame,
  TlvWriter,
  typeName,
} from "@impp/protocol";
import { ClientError } from "./errors.js";
import { type ResponseFrame, takeUnread, toResponseFrame } from "./frames.js";
import { avatarBlock, type GroupRequest, groupBlock } from "./groups.js";
import { type FramePredicate, IndicationQueue } from "./indications.js";
import {
  authenticateBlock,
  type BindOptions,
  bindBlock,
  featuresBlock,
  type ImSendOptions,
  imSendBlock,
  listsBlock,
} from "./messages.js";

export interface ConnectOptions {
  host: string;
  port: number;
  /**
   * inband (default): version → FEATURES_SET{TLS[,COMPRESSION]} → TLS on the same socket.
   * direct: TLS first (the 443-style listener), then version, then FEATURES_SET (TLS acknowledged).
   * none: stay plain, no FEATURES_SET (negative tests).
   */
  tls?: "inband" | "direct" | "none";
  /** Ask for COMPRESSION in FEATURES_SET; on if the server's response includes it. */
  compression?: boolean;
  /** Default 14, what current Trillian clients send. */
  version?: number;
  /** Default true. Tests with self-signed certificates pass `ca` (or false). */
  rejectUnauthorized?: boolean;
  ca?: string | Buffer;
  /** Default: `host` unless it is an IP address. */
  servername?: string;
  /** Per step / request / wait, default 10000. */
  timeoutMs?: number;
  /** Default random, like real clients. */
  startSequence?: number;
  /** 5 (default) or 0x4001: both forms real clients use. */
  passwordTlv?: number;
  /** Largest inbound block, on the wire and inflated (default 16 MiB: the client trusts the server more than the server trusts it). */
  maxBlockSize?: number;
  /** Unconsumed indications kept before the oldest are dropped (default 100000). */
  maxBufferedIndications?: number;
}

export interface RequestOptions {
  /** Exact flags to send (default: 0, or EXTENSION for an extension family/type). */
  flags?: number;
  /** Exact sequence to send (default: the next one). */
  sequence?: number;
  /** Overrides the connection's timeoutMs for this request. */
  timeoutMs?: number;
}

export interface CloseInfo {
  /** "client" when we closed (close/destroy, or a PROTOCOL/TLS failure), else "server" (incl. network resets). */
  initiator: "server" | "client";
  /** Why the connection ended, when not a plain close: the PROTOCOL/TLS failure or socket error. */
  cause: ClientError | undefined;
  /** The last error frame received on this connection, if any. */
  errorFrame: ResponseFrame | undefined;
  /** The last TLV frame received. */
  lastFrame: ResponseFrame | undefined;
  /** The very last frame before the close was an error frame (the "error, then close" pattern). */
  errorPrecededClose: boolean;
}

export type ClientEvents = {
  frame: [ResponseFrame];
  close: [CloseInfo];
  error: [ClientError];
};

type State = "open" | "closing" | "closed";

interface Pending {
  family: number;
  type: number;
  resolve(f: ResponseFrame): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
  /** Runs synchronously inside the read loop, before later frames of the same chunk are decoded. */
  onResponse: ((f: ResponseFrame) => void) | undefined;
}

/** A frame held back while the TLS handshake runs; encoded when flushed, so compression applies. */
type Queued =
  | Buffer
  | { header: { flags: number; family: number; type: number; sequence: number }; block: Buffer };

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_TIMEOUT = 10_000;
const DEFAULT_VERSION = 14;
const DEFAULT_MAX_BLOCK = 16 * 1024 * 1024;
const DEFAULT_MAX_INDICATIONS = 100_000;
const MAX_UNSOLICITED = 1000;
const EMPTY = Buffer.alloc(0);

function tlsOptions(opts: ConnectOptions): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { rejectUnauthorized: opts.rejectUnauthorized ?? true };
  if (opts.ca !== undefined) o.ca = opts.ca;
  const servername = opts.servername ?? (net.isIP(opts.host) ? undefined : opts.host);
  if (servername !== undefined) o.servername = servername;
  return o;
}

function defaultFlags(family: number, type: number): number {
  return family >= EXTENSION_RANGE_START || type >= EXTENSION_RANGE_START ? Flags.EXTENSION : Flags.REQUEST;
}

function describe(family: number, type: number, sequence: number): string {
  return `${familyName(family)} ${typeName(family, type)} seq ${sequence}`;
}

/**
 * One IMPP connection. Requests are matched to responses by sequence (responses may come back out
 * of order across families); indications (sequence 0) are queued for `nextIndication`. Anything the
 * server sends that the codec rejects closes the connection with a ClientError "PROTOCOL" — the
 * client never throws on hostile input.
 */
export class ImppClient extends EventEmitter<ClientEvents> {
  readonly options: Readonly<ConnectOptions>;
  /** Canonical account name from the AUTHENTICATE response. */
  account: string | undefined;
  /** Device name the server assigned in the BIND response. */
  deviceName: string | undefined;

  private readonly raw: net.Socket;
  private socket: net.Socket;
  private decoder: FrameDecoder;
  /** Plain-phase chunks the decoder may still hold bytes of (needed to hand them to TLS at the switch). */
  private plainChunks: Buffer[] = [];
  private seq: number;
  private readonly timeoutMs: number;
  private readonly maxBlockSize: number;
  private readonly pending = new Map<number, Pending[]>();
  private versionWaiter: Waiter<number> | undefined;
  private queue: Queued[] | null = null;
  private compressIn = false;
  private compressOut = false;
  private _tlsActive: boolean;
  private state: State = "open";
  private initiator: "server" | "client" = "server";
  private cause: ClientError | undefined;
  private closeInfo: CloseInfo | undefined;
  private closeWaiters: Waiter<CloseInfo>[] = [];
  private readonly queueOfIndications: IndicationQueue;
  private unsolicitedFrames: ResponseFrame[] = [];
  private lastFrame: ResponseFrame | undefined;
  private lastErrorFrame: ResponseFrame | undefined;
  private _paused = false;

  private constructor(socket: net.Socket, opts: ConnectOptions, tlsActive: boolean) {
    super();
    this.options = opts;
    this.raw = socket;
    this.socket = socket;
    this._tlsActive = tlsActive;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT;
    this.maxBlockSize = opts.maxBlockSize ?? DEFAULT_MAX_BLOCK;
    this.decoder = new FrameDecoder({ maxBlockSize: this.maxBlockSize });
    this.seq = opts.startSequence ?? randomInt(1, 0x7fff_ffff);
    this.queueOfIndications = new IndicationQueue(opts.maxBufferedIndications ?? DEFAULT_MAX_INDICATIONS);
    socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("error", this.onSocketError);
  }

  // ---- connecting ---------------------------------------------------------------------------

  /** TCP (and, for tls "direct", the TLS handshake) only; no IMPP byte is sent. For step-by-step tests. */
  static open(opts: ConnectOptions): Promise<ImppClient> {
    const direct = opts.tls === "direct";
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT;
    return new Promise((resolve, reject) => {
      let tcpUp = false;
      const sock: net.Socket = direct
        ? tls.connect({ host: opts.host, port: opts.port, ...tlsOptions(opts) })
        : net.connect({ host: opts.host, port: opts.port });
      const fail = (why: string, cause?: unknown) => {
        cleanup();
        sock.destroy();
        const kind = direct && tcpUp ? "TLS_FAILED" : "CONNECT_FAILED";
        reject(new ClientError(kind, `${opts.host}:${opts.port}: ${why}`, { cause }));
      };
      const onError = (e: Error) => fail(e.message, e);
      const onClose = () => fail("connection closed during connect");
      const onTcp = () => {
        tcpUp = true;
      };
      const onReady = () => {
        cleanup();
        sock.setNoDelay(true);
        resolve(new ImppClient(sock, opts, direct));
      };
      const timer = setTimeout(() => fail(`not connected within ${timeoutMs} ms`), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        sock.off("error", onError);
        sock.off("close", onClose);
        sock.off("connect", onTcp);
        sock.off(direct ? "secureConnect" : "connect", onReady);
      };
      sock.on("error", onError);
      sock.on("close", onClose);
      if (direct) sock.on("connect", onTcp);
      sock.on(direct ? "secureConnect" : "connect", onReady);
    });
  }

  /** Socket, version exchange, then FEATURES_SET / TLS / compression as `opts` say. */
  static async connect(opts: ConnectOptions): Promise<ImppClient> {
    const client = await ImppClient.open(opts);
    try {
      const want = opts.version ?? DEFAULT_VERSION;
      const got = await client.sendVersion(want);
      if (got !== want)
        throw new ClientError("VERSION_REJECTED", `sent version ${want}, server answered ${got}`);
      if ((opts.tls ?? "inband") !== "none") {
        const res = await client.setFeatures(Feature.TLS | (opts.compression ? Feature.COMPRESSION : 0));
        if (res.isError) {
          throw new ClientError("FEATURES_REJECTED", `FEATURES_SET answered with error ${res.errorCode}`, {
            frame: res,
          });
        }
        if (!client.tlsActive)
          throw new ClientError("TLS_FAILED", "the server did not grant TLS", { frame: res });
      }
      return client;
    } catch (e) {
      client.destroy();
      throw e;
    }
  }

  // ---- state ----------------------------------------------------------------------------------

  get closed(): boolean {
    return this.state === "closed";
  }
  get tlsActive(): boolean {
    return this._tlsActive;
  }
  get compressionActive(): boolean {
    return this.compressIn && this.compressOut;
  }
  /**
   * The server's certificate once TLS is up: whether it verified against the trusted CAs (`ca` or
   * the system's) and its SHA-256 fingerprint, so a caller that connected with
   * rejectUnauthorized false can pin or show it before sending credentials. undefined without TLS.
   */
  get peerCertificate():
    | { authorized: boolean; authorizationError: string | undefined; fingerprint256: string }
    | undefined {
    if (!this._tlsActive || !(this.socket instanceof tls.TLSSocket)) return undefined;
    const t = this.socket;
    const cert = t.getPeerCertificate();
    if (cert === null || typeof cert !== "object" || cert.fingerprint256 === undefined) return undefined;
    const err = t.authorizationError as Error | string | null | undefined;
    return {
      authorized: t.authorized,
      authorizationError:
        err == null ? undefined : typeof err === "string" ? err : (err.message ?? String(err)),
      fingerprint256: cert.fingerprint256,
    };
  }
  /** Indications dropped because the buffer was full. */
  get droppedIndications(): number {
    return this.queueOfIndications.dropped;
  }

  // ---- sending --------------------------------------------------------------------------------

  /** Sends the version message; resolves with the version the server answers. */
  sendVersion(version: number = this.options.version ?? DEFAULT_VERSION): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.state !== "open") return reject(this.closedError());
      const bytes = encodeVersion(version);
      this.versionWaiter?.reject(new ClientError("CLOSED", "superseded by another version exchange"));
      const w: Waiter<number> = { resolve, reject, timer: undefined };
      w.timer = setTimeout(() => {
        if (this.versionWaiter === w) this.versionWaiter = undefined;
        reject(new ClientError("TIMEOUT", `no version answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.versionWaiter = w;
      this.writeQueued(bytes);
    });
  }

  /**
   * FEATURES_SET. When the response grants TLS (and TLS is not up yet) the handshake starts on the
   * same socket before another byte is read; compression, when granted, applies from the next frame
   * after the response (after TLS is up, in-band). Resolves once that is done.
   */
  async setFeatures(features: number): Promise<ResponseFrame> {
    let upgrade: Promise<void> | undefined;
    const res = await this.requestWith(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(features), {
      onResponse: (f) => {
        upgrade = this.applyFeatures(f);
      },
    });
    if (upgrade !== undefined) await upgrade;
    return res;
  }

  async authenticate(name: string, password: string): Promise<ResponseFrame> {
    const block = authenticateBlock(name, password, this.options.passwordTlv ?? StreamTlv.PASSWORD);
    const res = await this.request(Family.STREAM, StreamType.AUTHENTICATE, block);
    if (!res.isError) {
      const n = res.tlvs.string(StreamTlv.NAME);
      this.account = typeof n === "string" ? n : name;
    }
    return res;
  }

  async bind(opts: BindOptions): Promise<ResponseFrame> {
    const res = await this.request(Family.DEVICE, DeviceType.BIND, bindBlock(opts));
    if (!res.isError) {
      const n = res.tlvs.string(DeviceTlv.DEVICE_NAME);
      this.deviceName = typeof n === "string" ? n : opts.deviceName;
    }
    return res;
  }

  /** IM MESSAGE_SEND of `text` (or opts.chunk, e.g. a TYPING u16) to `to`. */
  sendIm(to: string, text: string, opts: ImSendOptions & { chunk?: Buffer } = {}): Promise<ResponseFrame> {
    const chunk = opts.chunk ?? Buffer.from(text, "utf8");
    return this.request(Family.IM, ImType.MESSAGE_SEND, imSendBlock(to, chunk, opts));
  }

  /** A TYPING message (MESSAGE_CHUNK u16: 2 typing, 0 stopped). */
  sendTyping(to: string, typing: boolean): Promise<ResponseFrame> {
    const chunk = Buffer.from([0, typing ? 2 : 0]);
    return this.sendIm(to, "", { capability: Capability.TYPING, chunk });
  }

  ping(): Promise<ResponseFrame> {
    return this.request(Family.STREAM, StreamType.PING);
  }

  /**
   * A LISTS request about one address (CONTACT_ADD, CONTACT_APPROVE, BLOCK_ADD …): the address goes
   * in the list's own TLV for that type (CONTACT_ADDRESS, ALLOW_ADDRESS or BLOCK_ADDRESS).
   */
  lists(type: number, address: string, nickname?: string): Promise<ResponseFrame> {
    return this.request(Family.LISTS, type, listsBlock(type, address, nickname));
  }

  /** LISTS GET: my contacts, pending requests, allow and block lists. */
  getLists(): Promise<ResponseFrame> {
    return this.request(Family.LISTS, ListsType.GET);
  }

  /** PRESENCE SET of any of status, status message, nickname. */
  setPresence(p: { status?: number; statusMessage?: string; nickname?: string }): Promise<ResponseFrame> {
    const w = new TlvWriter();
    if (p.status !== undefined) w.u16(PresenceTlv.STATUS, p.status);
    if (p.statusMessage !== undefined) w.string(PresenceTlv.STATUS_MESSAGE, p.statusMessage);
    if (p.nickname !== undefined) w.string(PresenceTlv.NICKNAME, p.nickname);
    return this.request(Family.PRESENCE, PresenceType.SET, w);
  }

  /** PRESENCE GET: without `of`, an empty response then one UPDATE per contact; with it, that user's presence. */
  getPresence(of?: string): Promise<ResponseFrame> {
    const w = new TlvWriter();
    if (of !== undefined) w.string(PresenceTlv.TO, of);
    return this.request(Family.PRESENCE, PresenceType.GET, w);
  }

  /** A GROUP_CHATS request of `type` (SET, GET, MEMBER_ADD, MEMBER_REMOVE, MESSAGE_SEND). */
  groupRequest(type: number, r: GroupRequest = {}): Promise<ResponseFrame> {
    return this.request(Family.GROUP_CHATS, type, groupBlock(r));
  }

  /** GROUP_CHATS MESSAGE_SEND of `message` to the group `name`. */
  sendGroupMessage(name: string, message: string | Buffer): Promise<ResponseFrame> {
    return this.groupRequest(GroupChatsType.MESSAGE_SEND, { name, message });
  }

  /** AVATAR UPLOAD of an image; the response carries the server's AVATAR_SHA1. */
  uploadAvatar(data: Buffer): Promise<ResponseFrame> {
    return this.request(Family.AVATAR, AvatarType.UPLOAD, avatarBlock({ data }));
  }

  /** AVATAR SET (an empty hash clears) or GET of `sha1`. */
  avatar(type: typeof AvatarType.SET | typeof AvatarType.GET, sha1: Buffer): Promise<ResponseFrame> {
    return this.request(Family.AVATAR, type, avatarBlock({ sha1 }));
  }

  /**
   * Resolves with the frame answering this request — a response or an error frame with the same
   * sequence. Rejects only on timeout (TIMEOUT) or when the connection ends first (CLOSED/PROTOCOL).
   */
  request(
    family: number,
    type: number,
    block?: Buffer | TlvWriter,
    opts: RequestOptions = {},
  ): Promise<ResponseFrame> {
    return this.requestWith(family, type, block, opts);
  }

  /** Fire and forget; returns the sequence used. A response that comes back is kept as unsolicited. */
  send(family: number, type: number, block?: Buffer | TlvWriter, opts: RequestOptions = {}): number {
    if (this.state !== "open") throw this.closedError();
    const sequence = opts.sequence ?? this.nextSequence();
    this.writeFrame({ flags: opts.flags ?? defaultFlags(family, type), family, type, sequence }, block);
    return sequence;
  }

  /** Bytes out as they are (on the TLS socket once it is up), never compressed. Throws CLOSED on a closed client. */
  writeRaw(bytes: Buffer): void {
    if (this.state !== "open") throw this.closedError();
    this.writeQueued(bytes);
  }

  // ---- receiving ------------------------------------------------------------------------------

  /** The next indication accepted by `predicate` — buffered ones first — consuming it. */
  nextIndication(predicate?: FramePredicate, timeoutMs: number = this.timeoutMs): Promise<ResponseFrame> {
    return this.queueOfIndications.next(predicate, timeoutMs);
  }

  /** Takes every buffered indication. */
  drainIndications(): ResponseFrame[] {
    return this.queueOfIndications.drain();
  }

  /** Responses/errors that matched no outstanding request (late answers, sequence-0 errors). */
  drainUnsolicited(): ResponseFrame[] {
    const out = this.unsolicitedFrames;
    this.unsolicitedFrames = [];
    return out;
  }

  /** Indications as a stream, sharing the queue with nextIndication; ends when the connection closes. */
  get indications(): AsyncIterable<ResponseFrame> {
    const q = this.queueOfIndications;
    return {
      async *[Symbol.asyncIterator]() {
        while (true) {
          try {
            yield await q.next(undefined, Number.POSITIVE_INFINITY);
          } catch (e) {
            if (q.isEnded) return;
            throw e;
          }
        }
      },
    };
  }

  /** Resolves when the connection has closed (immediately if it already has). */
  waitClosed(timeoutMs: number = this.timeoutMs): Promise<CloseInfo> {
    if (this.closeInfo !== undefined) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const w: Waiter<CloseInfo> = { resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.closeWaiters = this.closeWaiters.filter((x) => x !== w);
          reject(new ClientError("TIMEOUT", `connection still open after ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.closeWaiters.push(w);
    });
  }

  /** Stops reading the socket: the server's output backs up (slow-reader tests). */
  pause(): void {
    this._paused = true;
    this.socket.pause();
  }

  resume(): void {
    this._paused = false;
    this.socket.resume();
  }

  /** Half-closes and waits for the server to close; destroys after the timeout. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    if (this.state === "open") {
      this.state = "closing";
      this.initiator = "client";
      this.socket.end();
    }
    try {
      await this.waitClosed(this.timeoutMs);
    } catch {
      this.destroy();
    }
  }

  destroy(): void {
    if (this.state === "closed") return;
    if (this.state === "open") this.initiator = "client";
    this.socket.destroy();
    this.raw.destroy();
    this.finish();
  }

  // ---- internals: writing ---------------------------------------------------------------------

  private nextSequence(): number {
    const s = this.seq;
    // Sequence 0 is what indications carry: skip it on wrap-around so a response never looks like one.
    this.seq = (this.seq + 1) >>> 0 || 1;
    return s;
  }

  private requestWith(
    family: number,
    type: number,
    block: Buffer | TlvWriter | undefined,
    opts: RequestOptions & { onResponse?: (f: ResponseFrame) => void },
  ): Promise<ResponseFrame> {
    return new Promise((resolve, reject) => {
      if (this.state !== "open") return reject(this.closedError());
      const sequence = opts.sequence ?? this.nextSequence();
      const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
      const p: Pending = { family, type, resolve, reject, timer: undefined, onResponse: opts.onResponse };
      let list = this.pending.get(sequence);
      if (list === undefined) {
        list = [];
        this.pending.set(sequence, list);
      }
      list.push(p);
      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.removePending(sequence, p);
          reject(
            new ClientError(
              "TIMEOUT",
              `no answer to ${describe(family, type, sequence)} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
      try {
        this.writeFrame({ flags: opts.flags ?? defaultFlags(family, type), family, type, sequence }, block);
      } catch (e) {
        // A header field out of range (caller error): nothing was written.
        this.removePending(sequence, p);
        if (p.timer) clearTimeout(p.timer);
        reject(e);
      }
    });
  }

  private removePending(sequence: number, p: Pending): void {
    const list = this.pending.get(sequence);
    if (list === undefined) return;
    const i = list.indexOf(p);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.pending.delete(sequence);
  }

  private writeFrame(
    header: { flags: number; family: number; type: number; sequence: number },
    block: Buffer | TlvWriter | undefined,
  ): void {
    if (this.queue !== null) {
      // Validate now so a bad header fails the caller, not the later flush.
      encodeFrame(header, EMPTY);
      this.queue.push({ header, block: block instanceof TlvWriter ? block.finish() : (block ?? EMPTY) });
      return;
    }
    this.corkForTick();
    this.socket.write(this.encode(header, block));
  }

  /** The socket corked in this tick (the socket changes at the TLS switch). */
  private corkedOn: net.Socket | undefined;
  private readonly uncork = (): void => {
    const s = this.corkedOn;
    this.corkedOn = undefined;
    s?.uncork();
  };

  /** Requests made in one tick leave as one writev: one TLS record and one syscall. */
  private corkForTick(): void {
    if (this.corkedOn !== undefined) return;
    this.corkedOn = this.socket;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private encode(
    header: { flags: number; family: number; type: number; sequence: number },
    block: Buffer | TlvWriter | undefined,
  ): Buffer {
    if (this.compressOut) {
      return encodeFrameCompressed(header, block instanceof TlvWriter ? block.finish() : (block ?? EMPTY));
    }
    // The writer left room for the header: the frame is built in place, no copy of the block.
    if (block instanceof TlvWriter) return block.frame(header);
    return encodeFrame(header, block ?? EMPTY);
  }

  private writeQueued(bytes: Buffer): void {
    if (this.queue !== null) this.queue.push(bytes);
    else this.socket.write(bytes);
  }

  // ---- internals: features and TLS ------------------------------------------------------------

  /** Runs inside the read loop on the FEATURES_SET answer, before any later byte is decoded. */
  private applyFeatures(f: ResponseFrame): Promise<void> | undefined {
    if (f.isError) return undefined;
    const granted = f.tlvs.u16(StreamTlv.FEATURES);
    if (typeof granted !== "number") return undefined;
    const compression = (granted & Feature.COMPRESSION) !== 0;
    if ((granted & Feature.TLS) !== 0 && !this._tlsActive) return this.startTls(compression);
    // Already in TLS (direct listener) or no TLS at all: compression starts with the next frame.
    if (compression) this.enableCompression();
    return undefined;
  }

  private enableCompression(): void {
    this.compressIn = true;
    this.compressOut = true;
    // Blocks are zlib streams now; their TLVs are checked after inflating.
    this.decoder.checkTlvs = false;
  }

  private startTls(compression: boolean): Promise<void> {
    // Anything corked on the plain socket leaves before TLS takes it over.
    this.uncork();
    const raw = this.raw;
    // Stop plain reading first: from here on every inbound byte belongs to TLS. Bytes the decoder
    // already holds past the response go back to the socket, where the TLS layer reads them first.
    raw.off("data", this.onData);
    raw.pause();
    const leftover = takeUnread(this.plainChunks, this.decoder.buffered);
    this.plainChunks = [];
    if (leftover.length > 0) raw.unshift(leftover);
    this.decoder = new FrameDecoder({ maxBlockSize: this.maxBlockSize });
    if (compression) this.enableCompression();
    // Writes wait for the handshake so nothing leaves in clear text after the switch.
    this.queue = [];
    const t = tls.connect({ socket: raw, ...tlsOptions(this.options) });
    this.socket = t;
    t.on("data", this.onData);
    t.on("close", this.onClose);
    t.on("error", this.onSocketError);
    if (this._paused) t.pause();
    return new Promise((resolve, reject) => {
      const onSecure = () => {
        t.off("error", onError);
        this._tlsActive = true;
        const q = this.queue ?? [];
        this.queue = null;
        for (const item of q) t.write(Buffer.isBuffer(item) ? item : this.encode(item.header, item.block));
        resolve();
      };
      const onError = (e: Error) => {
        t.off("secureConnect", onSecure);
        const err = new ClientError("TLS_FAILED", `TLS handshake failed: ${e.message}`, { cause: e });
        this.fail(err);
        reject(err);
      };
      t.once("secureConnect", onSecure);
      t.once("error", onError);
    });
  }

  // ---- internals: reading ---------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    if (this.state === "closed") return;
    if (!this._tlsActive && this.queue === null) this.plainChunks.push(chunk);
    const decoder = this.decoder;
    decoder.push(chunk);
    // A TLS switch replaces the decoder mid-loop: what is left in the old one is TLS, not IMPP.
    while (!this.closed && decoder === this.decoder) {
      const f = decoder.next();
      if (f === null) break;
      if (f instanceof ProtocolError) {
        this.fail(new ClientError("PROTOCOL", `bad input from the server: ${f.message}`, { cause: f }));
        return;
      }
      if (f.channel === 1) this.onVersion(f.version);
      else this.onTlvFrame(f);
    }
    if (decoder === this.decoder && decoder.buffered === 0) this.plainChunks.length = 0;
  };

  private onVersion(version: number): void {
    const w = this.versionWaiter;
    // A version message nobody asked for is ignored, as the server ignores a late one.
    if (w === undefined) return;
    this.versionWaiter = undefined;
    if (w.timer) clearTimeout(w.timer);
    w.resolve(version);
  }

  private onTlvFrame(f: TlvFrame): void {
    let block = f.block;
    const compressed = this.compressIn && block.length > 0;
    if (compressed) {
      const out = inflateBlock(block, this.maxBlockSize);
      if (out instanceof ProtocolError) {
        this.fail(new ClientError("PROTOCOL", `bad compressed block: ${out.message}`, { cause: out }));
        return;
      }
      block = out;
    }
    const tlvs = TlvBlock.parse(block, f.family);
    if (tlvs instanceof ProtocolError) {
      this.fail(new ClientError("PROTOCOL", `bad TLV block: ${tlvs.message}`, { cause: tlvs }));
      return;
    }
    const frame = toResponseFrame(f, block, tlvs, compressed);
    this.lastFrame = frame;
    if (frame.isError) this.lastErrorFrame = frame;
    if (this.listenerCount("frame") > 0) this.emit("frame", frame);
    if (frame.isIndication) {
      this.queueOfIndications.push(frame);
      return;
    }
    if ((f.flags & (Flags.RESPONSE | Flags.ERROR)) !== 0) {
      const p = this.takePending(f.sequence, f.family);
      if (p !== undefined) {
        if (p.timer) clearTimeout(p.timer);
        p.onResponse?.(frame);
        p.resolve(frame);
        return;
      }
    }
    this.unsolicitedFrames.push(frame);
    if (this.unsolicitedFrames.length > MAX_UNSOLICITED) this.unsolicitedFrames.shift();
  }

  /** The outstanding request with this sequence (its family preferred when a sequence was reused). */
  private takePending(sequence: number, family: number): Pending | undefined {
    const list = this.pending.get(sequence);
    if (list === undefined) return undefined;
    let i = list.findIndex((p) => p.family === family);
    if (i < 0) i = 0;
    const p = list[i]!;
    list.splice(i, 1);
    if (list.length === 0) this.pending.delete(sequence);
    return p;
  }

  // ---- internals: closing ---------------------------------------------------------------------

  private readonly onSocketError = (e: Error): void => {
    // The close event follows; remember why. ECONNRESET and friends count as the peer's doing.
    if (this.cause === undefined && this.state === "open") {
      this.cause = new ClientError("CLOSED", `socket error: ${e.message}`, { cause: e });
    }
  };

  private readonly onClose = (): void => {
    this.finish();
  };

  /** We end the connection because of what the server did (PROTOCOL) or a failed handshake. */
  private fail(err: ClientError): void {
    if (this.state === "closed") return;
    this.cause = err;
    this.initiator = "client";
    if (this.listenerCount("error") > 0) this.emit("error", err);
    this.socket.destroy();
    this.raw.destroy();
    this.finish();
  }

  private closedError(): ClientError {
    if (this.cause !== undefined && this.cause.kind !== "CLOSED") return this.cause;
    const by = this.initiator === "client" ? "by the client" : "by the server";
    return new ClientError("CLOSED", `connection closed ${by}`, { cause: this.cause });
  }

  private finish(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.queue = null;
    this.plainChunks = [];
    const err = this.closedError();
    const pending = [...this.pending.values()].flat();
    this.pending.clear();
    for (const p of pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    const vw = this.versionWaiter;
    this.versionWaiter = undefined;
    if (vw !== undefined) {
      if (vw.timer) clearTimeout(vw.timer);
      vw.reject(err);
    }
    this.queueOfIndications.end(err);
    const info: CloseInfo = {
      initiator: this.initiator,
      cause: this.cause,
      errorFrame: this.lastErrorFrame,
      lastFrame: this.lastFrame,
      errorPrecededClose: this.lastFrame?.isError === true,
    };
    this.closeInfo = info;
    const ws = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of ws) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(info);
    }
    this.emit("close", info);
  }
}
