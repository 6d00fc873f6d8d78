// One client connection: socket I/O, the in-band TLS upgrade, compression, and the glue between
// the decoder, the state machine (session-state.ts), the per-family queue (fifo.ts) and the
// router. Everything a client sends is hostile: nothing here may throw out of a socket handler.
import type net from "node:net";
import tls from "node:tls";
import { ReplyAction, type ReplyEnvelope } from "@impp/bus";
import {
  Channel,
  encodeError,
  encodeFrameCompressed,
  encodeVersion,
  errorName,
  Family,
  Flags,
  FrameDecoder,
  type FrameHeader,
  familyName,
  GlobalError,
  inflateBlock,
  ProtocolError,
  StreamTlv,
  StreamType,
  scanTlvs,
  TLVS_OK,
  TlvBlock,
  TlvWriter,
  typeName,
} from "@impp/protocol";
import type { Logger, RepeatLimiter, Span } from "@impp/telemetry";
import type { EdgeCounters } from "./counters.js";
import type { DeliveryTarget } from "./delivery.js";
import type { AccountBuckets, Turns, TurnTaker } from "./fairness.js";
import { WorkBucket } from "./fairness.js";
import { FamilyFifo, type FifoItem, type FifoOwner } from "./fifo.js";
import type { FrameLog } from "./frame-log.js";
import { FramesError, OutFrames } from "./frames.js";
import type { Router } from "./router.js";
import {
  decide,
  isExtensionRequest,
  negotiateFeatures,
  Phase,
  type SessionView,
  versionReply,
} from "./session-state.js";
import { CloseReason, closeReasonLabel, type Sweepable } from "./sweeper.js";

/**
 * Requests a connection may have queued or in flight. At the limit the edge stops reading the
 * socket (TCP backpressure reaches the client) instead of buffering: 32 covers real clients'
 * login burst (LISTS GET, GROUP_CHATS GET, IM OFFLINE_MESSAGES_GET, PRESENCE GET…) many times over.
 */
export const MAX_QUEUED_REQUESTS = 32;
/**
 * Past the queue limit the edge still reads the socket, to answer PINGs (which never queue): other
 * requests read meanwhile are parked — copied, so no socket chunk stays pinned — up to this many,
 * and up to one block limit of bytes; then reading stops.
 */
const MAX_PARKED = 32;
/** Work (bytes read plus bytes inflated) one connection does before it yields to the others. */
export const SLICE_BYTES = 64 * 1024;
/**
 * What the edge charges to the pre-login memory budget for a connection before counting its unread
 * input: a rough upper bound of a socket's and (once started) a TLS session's own buffers.
 */
export const PRELOGIN_BASE_COST = 16 * 1024;
export const PRELOGIN_TLS_COST = 48 * 1024;
/** Reasons reading is paused (a bit each): the queue and the parking lot are full; out of allowance; a slice ran out. */
const PAUSE_QUEUE = 1;
const PAUSE_THROTTLE = 2;
const PAUSE_BACKLOG = 4;
/** A connection told to close (CLOSE_AFTER, too-old version…) whose peer never finishes the close. */
const CLOSE_GRACE_MS = 5000;
const EMPTY = Buffer.alloc(0);
const NO_CAPABILITIES: readonly number[] = [];

/** What every connection shares: one object per edge. */
export interface ConnectionHost {
  readonly maxBlockSize: number;
  /** The block limit until the session has logged in (never above maxBlockSize). */
  readonly preLoginMaxBlock: number;
  readonly maxTlvsPerBlock: number;
  readonly versionTimeoutMs: number;
  readonly featuresTimeoutMs: number;
  readonly loginTimeoutMs: number;
  readonly connectionWorkRate: number;
  /** Per account over its connections (a bucket each while it has one here). */
  readonly accountBuckets: AccountBuckets;
  readonly turns: Turns;
  /** The estimated bytes held by this connection before login changed by `delta`. */
  preLoginMemory(delta: number): void;
  readonly maxOutputBuffer: number;
  readonly tlsHandshakeTimeoutMs: number;
  readonly compressionAllowed: boolean;
  readonly secureContext: tls.SecureContext;
  readonly router: Router;
  readonly logger: Logger;
  /** The per-frame trace log; undefined unless the log level is trace. */
  readonly frameLog: FrameLog | undefined;
  /** Info lines clients can provoke at will (service errors), capped per kind. */
  readonly limited: RepeatLimiter;
  readonly counters: EdgeCounters;
  /**
   * The connection's impp.session span, started as it is accepted and ended when it closes: a root,
   * always sampled when spans are exported (non-recording, but with ids for the logs, when not).
   */
  startSession(conn: Connection, tlsFirst: boolean): Span;
  /** The connection now has a device: index it for deliveries. */
  bound(conn: Connection): void;
  /** The connection's device went (CLEAR_DEVICE) while the connection stays. */
  unbound(conn: Connection): void;
  /** Called exactly once per connection, whatever closed it. */
  closed(conn: Connection, reason: CloseReason): void;
  /** A device was bound for a connection that had already closed: presence must forget it. */
  orphanDevice(account: string, device: string, connId: string, reason: CloseReason, traceId?: string): void;
}

interface Pending extends FifoItem, FrameHeader {
  /** As it came off the wire (a view of the socket chunk). */
  readonly block: Buffer;
  /** Compression was on when it arrived: inflate before use. */
  readonly compressed: boolean;
  /** Non-zero: the block was found malformed on arrival; answer with this code. */
  readonly blockError: number;
}

/**
 * The connection a socket belongs to. Socket listeners are functions shared by all connections
 * (Node calls them with the socket as `this`), not closures made per connection: an idle edge holds
 * connections by the 100k, and each closure is ~60 bytes more for every one of them.
 */
const OWNER = Symbol("impp.connection");
type Owned = { [OWNER]?: Connection };

/** The address part only: services rate-limit per source address, which a port would defeat. */
function addressOf(socket: net.Socket): string {
  const a = socket.remoteAddress ?? "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

export class Connection implements Sweepable, DeliveryTarget, SessionView, FifoOwner<Pending>, TurnTaker {
  readonly id: string;
  readonly remoteAddress: string;
  /** impp.session: its trace id is in every log line of this connection; request spans link to it. */
  readonly session: Span;
  phase: Phase;
  featuresDone = false;
  authStarted = false;
  compression = false;
  account = "";
  device = "";
  capabilities: readonly number[] = NO_CAPABILITIES;
  lastActivity: number;
  /** The current pre-login phase's deadline (0 once logged in) and what closing at it is called. */
  deadline = 0;
  deadlineReason: CloseReason = CloseReason.PRELOGIN_TIMEOUT;
  closeDeadline = 0;
  /** TurnTaker: queued for a turn. */
  scheduled = false;

  private readonly host: ConnectionHost;
  private readonly raw: net.Socket;
  private socket: net.Socket;
  /**
   * Null while nothing is buffered (an idle connection): a decoder keeps the last chunk it sliced,
   * so one is made on the next read instead. Kept through the plain phase, whose leftover matters.
   */
  private decoder: FrameDecoder | null = null;
  private readonly fifo: FamilyFifo<Pending>;
  private versionDone = false;
  /** end() was called: no more writes, inbound bytes are dropped. */
  private ending = false;
  private closed = false;
  /** Between a granted FEATURES_SET and the TLS handshake: the plain stream is over. */
  private upgrading = false;
  /** Why reading is paused (PAUSE_* bits); 0 = reading. */
  private pausedFor = 0;
  /** Requests read while the queue was full, in arrival order (null = none). */
  private parked: Pending[] | null = null;
  private parkedBytes = 0;
  private readonly bucket: WorkBucket;
  /** The account's bucket, once logged in. */
  private accountBucket: WorkBucket | undefined;
  private throttleTimer: NodeJS.Timeout | undefined;
  /** What this connection has charged to the edge's pre-login memory budget. */
  private preLoginCharged = 0;
  private closeReason: CloseReason = CloseReason.CLIENT_CLOSED;
  /**
   * While plain: the received chunks still (partly) held by the decoder, so the bytes after a
   * FEATURES_SET (a pipelining client's ClientHello) can be handed to TLS. Trimmed after every read.
   */
  private plainChunks: Buffer[] | null;

  constructor(host: ConnectionHost, raw: net.Socket, id: string, tlsFirst: boolean) {
    this.host = host;
    this.raw = raw;
    this.id = id;
    this.remoteAddress = addressOf(raw);
    this.lastActivity = Date.now();
    this.fifo = new FamilyFifo<Pending>(this);
    this.bucket = new WorkBucket(host.connectionWorkRate, 4 * host.maxBlockSize, this.lastActivity);
    this.session = host.startSession(this, tlsFirst);
    raw.setNoDelay(true);
    (raw as Owned)[OWNER] = this;
    raw.on("error", Connection.socketError);
    raw.on("close", Connection.socketClose);
    if (tlsFirst) {
      this.phase = Phase.PRE_AUTH;
      this.plainChunks = null;
      this.socket = raw;
      this.startTls();
    } else {
      this.phase = Phase.PRE_TLS;
      this.plainChunks = [];
      this.socket = raw;
      this.setDeadline(host.versionTimeoutMs, CloseReason.PRELOGIN_TIMEOUT);
      raw.on("data", Connection.socketData);
    }
    this.updatePreLoginMemory();
  }

  /** Arms the phase deadline the sweeper enforces. */
  private setDeadline(ms: number, reason: CloseReason): void {
    this.deadline = Date.now() + ms;
    this.deadlineReason = reason;
  }

  /** The block limit now: small until logged in (§6, issue #11). */
  private get blockLimit(): number {
    return this.phase >= Phase.LOGGED_IN
      ? this.host.maxBlockSize
      : Math.min(this.host.preLoginMaxBlock, this.host.maxBlockSize);
  }

  /** The session's trace id, for log lines (`trace_id`, as the logger's span mixin writes it). */
  get traceId(): string {
    return this.session.spanContext().traceId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Requests queued or in flight. */
  get queued(): number {
    return this.fifo.size;
  }

  /** Unsent output (for the slow-reader check). */
  get outputBytes(): number {
    return this.closed ? 0 : this.socket.writableLength;
  }

  // ------------------------------------------------------------------ input

  private static readonly socketData = function (this: net.Socket, chunk: Buffer): void {
    (this as Owned)[OWNER]?.onData(chunk);
  };

  private static readonly socketSecure = function (this: net.Socket): void {
    (this as Owned)[OWNER]?.onSecure();
  };

  private static readonly socketClose = function (this: net.Socket): void {
    (this as Owned)[OWNER]?.onClose();
  };

  private static readonly socketError = function (this: net.Socket, e: Error): void {
    (this as Owned)[OWNER]?.onError(e);
  };

  private onData(chunk: Buffer): void {
    if (this.ending || this.closed) return;
    try {
      this.host.counters.bytesIn(chunk.length);
      this.plainChunks?.push(chunk);
      this.decoder ??= new FrameDecoder({
        maxBlockSize: this.blockLimit,
        checkTlvs: !this.compression,
        maxTlvs: this.host.maxTlvsPerBlock,
      });
      this.decoder.push(chunk);
      this.readFrames();
    } catch (e) {
      this.queueFailed(e);
    }
  }

  /** TurnTaker: the next slice of this connection's buffered input. */
  turn(): void {
    if (this.closed || this.ending) return;
    try {
      this.readFrames();
    } catch (e) {
      this.queueFailed(e);
    }
  }

  /**
   * Decodes and handles buffered frames: one slice of work at most (then the connection yields its
   * turn, see fairness.ts), and none while out of allowance or while the queue and parking lot are full.
   */
  private readFrames(): void {
    const decoder = this.decoder;
    if (decoder === null) return;
    let any = false;
    let spent = 0;
    let more = false;
    while (!this.ending && !this.closed && !this.upgrading) {
      if ((this.pausedFor & (PAUSE_QUEUE | PAUSE_THROTTLE)) !== 0) break;
      if (spent >= SLICE_BYTES) {
        more = decoder.buffered > 0;
        break;
      }
      const f = decoder.next();
      if (f === null) break;
      any = true;
      if (f instanceof ProtocolError) {
        spent += 16;
        if (f.fatal || f.header === undefined) {
          this.fatal(f);
          break;
        }
        // A TLV overrunning a well-framed block: that request fails, the stream goes on (§6).
        spent += this.onTlv(f.header, EMPTY, f.errorCode);
      } else if (f.channel === Channel.VERSION) {
        spent += 4;
        this.onVersion(f.version);
      } else {
        spent += 16 + f.block.length + this.onTlv(f, f.block, 0);
      }
    }
    if (any) this.lastActivity = Date.now();
    if (spent > 0) this.charge(spent);
    if (this.closed) return;
    // Input left over after a full slice: yield, and stop reading more until the next turn.
    if (more && !this.ending) this.host.turns.later(this);
    this.setPaused(PAUSE_BACKLOG, more);
    if (this.upgrading) return;
    if (this.plainChunks !== null) this.trimPlainChunks();
    // A failed decoder also reports 0 buffered; it is kept, so its error stays final.
    else if (this.decoder === decoder && decoder.buffered === 0 && decoder.error === null)
      this.decoder = null;
    this.updatePreLoginMemory();
  }

  /** Charges work to this connection's (and its account's) allowance; out of it, reading pauses. */
  private charge(n: number): void {
    const now = Date.now();
    let wait = this.bucket.charge(n, now);
    let scope = "connection";
    if (this.accountBucket !== undefined) {
      const w = this.accountBucket.charge(n, now);
      if (w > wait) {
        wait = w;
        scope = "account";
      }
    }
    if (wait === 0 || (this.pausedFor & PAUSE_THROTTLE) !== 0 || this.closed) return;
    this.host.counters.throttled(scope);
    this.setPaused(PAUSE_THROTTLE, true);
    this.throttleTimer = setTimeout(Connection.unthrottle, wait, this);
  }

  private static unthrottle(c: Connection): void {
    c.throttleTimer = undefined;
    if (c.closed) return;
    const now = Date.now();
    const wait = Math.max(c.bucket.waitMs(now), c.accountBucket?.waitMs(now) ?? 0);
    if (wait > 0) {
      c.throttleTimer = setTimeout(Connection.unthrottle, wait, c);
      return;
    }
    c.setPaused(PAUSE_THROTTLE, false);
    c.host.turns.later(c);
  }

  /** Keeps the edge's pre-login memory estimate in step with this connection (0 once logged in or closed). */
  private updatePreLoginMemory(): void {
    let now = 0;
    if (!this.closed && this.phase < Phase.LOGGED_IN) {
      now =
        PRELOGIN_BASE_COST +
        (this.socket !== this.raw || this.upgrading ? PRELOGIN_TLS_COST : 0) +
        (this.decoder?.retained ?? 0) +
        this.parkedBytes;
    }
    if (now !== this.preLoginCharged) {
      this.host.preLoginMemory(now - this.preLoginCharged);
      this.preLoginCharged = now;
    }
  }

  private onVersion(version: number): void {
    const r = versionReply(version, this.versionDone);
    if (!this.versionDone && this.phase < Phase.LOGGED_IN) {
      if (this.phase === Phase.PRE_TLS)
        this.setDeadline(this.host.featuresTimeoutMs, CloseReason.PRELOGIN_TIMEOUT);
      else this.setDeadline(this.host.loginTimeoutMs, CloseReason.PRELOGIN_TIMEOUT);
    }
    this.versionDone = true;
    if (r.kind === "ignore") return;
    this.session.addEvent("version", { "impp.version": version, "impp.accepted": r.kind !== "reject" });
    this.write(encodeVersion(r.reply));
    if (r.kind === "reject") this.closeAfterFlush(CloseReason.PROTOCOL_ERROR);
  }

  /** Returns the work done beyond reading the frame (a PING's inflating). */
  private onTlv(h: FrameHeader, block: Buffer, blockError: number): number {
    // The version exchange comes first; a version message after any TLV message is ignored too.
    if (
      !this.versionDone &&
      this.phase === Phase.PRE_AUTH &&
      this.deadlineReason === CloseReason.PRELOGIN_TIMEOUT
    )
      this.setDeadline(this.host.loginTimeoutMs, CloseReason.PRELOGIN_TIMEOUT);
    this.versionDone = true;
    this.host.counters.frameIn(h.family);
    if (this.host.frameLog !== undefined)
      this.host.frameLog.frameIn(this, h, block, this.compression && blockError === 0);
    const item: Pending = {
      flags: h.flags,
      family: h.family,
      type: h.type,
      sequence: h.sequence,
      block,
      compressed: this.compression && blockError === 0,
      blockError,
    };
    // Before TLS everything is answered here and now (the FEATURES_SET that starts TLS must stop the
    // plain stream before the next byte is read). So is a FEATURES_SET with nothing ahead of it: it
    // switches compression for the very next message, which the decoder must know before reading it.
    // PING is answered on arrival whatever the queues hold (a keepalive never waits behind a hung
    // service), before and after login alike.
    if (
      this.phase === Phase.PRE_TLS ||
      (h.family === Family.STREAM && h.type === StreamType.PING) ||
      (h.family === Family.STREAM && h.type === StreamType.FEATURES_SET && this.fifo.size === 0)
    ) {
      this.inlineWork = 0;
      this.inlineDepth++;
      try {
        this.runQueued(item);
      } finally {
        this.inlineDepth--;
      }
      return this.inlineWork;
    }
    if (this.parked !== null || this.fifo.size >= MAX_QUEUED_REQUESTS) {
      // Keep reading for PINGs; park the rest (bounded), then stop reading.
      this.parked ??= [];
      const copy = blockError === 0 && block.length > 0 ? Buffer.from(block) : block;
      this.parked.push({ ...item, block: copy });
      this.parkedBytes += copy.length;
      if (this.parked.length >= MAX_PARKED || this.parkedBytes >= this.blockLimit)
        this.setPaused(PAUSE_QUEUE, true);
      return 0;
    }
    this.fifo.push(item);
    return 0;
  }

  /** Inflating done inside runQueued for an item handled on arrival (charged by readFrames). */
  private inlineWork = 0;

  /** Framing error: the stream cannot be resynchronised (§6). */
  private fatal(err: ProtocolError): void {
    const h = err.header;
    if (h === undefined) {
      this.sendError({ flags: 0, family: Family.STREAM, type: 0, sequence: 0 }, err.errorCode, false);
    } else {
      this.host.counters.frameIn(h.family);
      this.sendError(h, err.errorCode, isExtensionRequest(h.flags, h.family, h.type));
    }
    this.closeAfterFlush(CloseReason.PROTOCOL_ERROR);
  }

  // ------------------------------------------------------------------ processing

  /** The fifo's runner (and the direct path for what is answered on arrival). Never throws out. */
  runQueued(item: Pending): undefined | Promise<void> {
    if (this.closed || this.ending) return undefined;
    const d = decide(this, item.flags, item.family, item.type);
    if (d.kind === "error") {
      this.sendError(item, d.code, d.extension);
      if (d.close) this.closeAfterFlush(CloseReason.PROTOCOL_ERROR);
      return undefined;
    }
    const block = this.openBlock(item);
    if (block === undefined) return undefined;
    if (d.kind === "ping") {
      this.sendPing(item);
      return undefined;
    }
    if (d.kind === "features") {
      this.negotiate(item, block);
      return undefined;
    }
    return this.route(item, block);
  }

  /** The request's TLV block, inflated and checked; undefined when an error was sent instead. */
  private openBlock(item: Pending): Buffer | undefined {
    const ext = isExtensionRequest(item.flags, item.family, item.type);
    if (item.blockError !== 0) {
      this.sendError(item, item.blockError, ext);
      return undefined;
    }
    if (!item.compressed || item.block.length === 0) return item.block;
    // inflateBlock caps the output at the block limit: the zip-bomb guard (§2.6).
    const inflated = inflateBlock(item.block, this.blockLimit);
    if (inflated instanceof ProtocolError) {
      this.workDone(this.blockLimit);
      this.sendError(item, inflated.errorCode, ext);
      return undefined;
    }
    this.workDone(inflated.length);
    // Services get only well-formed blocks, of a bounded number of TLVs.
    if (
      inflated.length > 0 &&
      scanTlvs(inflated, 0, inflated.length, this.host.maxTlvsPerBlock) !== TLVS_OK
    ) {
      this.sendError(item, GlobalError.INVALID_TLV_LENGTH, ext);
      return undefined;
    }
    return inflated;
  }

  /** Work done while running an item: charged with the frame when handled on arrival, else now. */
  private workDone(n: number): void {
    if (this.runningInline) this.inlineWork += n;
    else this.charge(n);
  }

  private get runningInline(): boolean {
    return this.inlineDepth > 0;
  }
  private inlineDepth = 0;

  private sendPing(item: Pending): void {
    const w = new TlvWriter(12).u64(StreamTlv.TIMESTAMP, Date.now());
    this.sendMessage(
      { flags: Flags.RESPONSE, family: item.family, type: item.type, sequence: item.sequence },
      w,
    );
  }

  private negotiate(item: Pending, block: Buffer): void {
    const parsed = TlvBlock.parse(block, Family.STREAM);
    const requested = parsed instanceof ProtocolError ? parsed : parsed.u16(StreamTlv.FEATURES);
    if (requested === undefined) {
      this.sendError(item, GlobalError.INVALID_TLV_VALUE, false);
      return;
    }
    if (requested instanceof ProtocolError) {
      this.sendError(item, requested.errorCode, false);
      return;
    }
    const r = negotiateFeatures(requested, this.phase !== Phase.PRE_TLS, this.host.compressionAllowed);
    if (!r.ok) {
      this.sendError(item, r.code, false);
      return;
    }
    this.featuresDone = true;
    // Exactly the 16-byte header and the one FEATURES TLV (one client reads just 22 bytes), never
    // compressed: compression starts with the message after this one.
    const granted = new TlvWriter(6).u16(StreamTlv.FEATURES, r.features).frame({
      flags: Flags.RESPONSE,
      family: Family.STREAM,
      type: StreamType.FEATURES_SET,
      sequence: item.sequence,
    });
    if (this.host.frameLog !== undefined) this.host.frameLog.framesOut(this, granted);
    this.write(granted);
    this.host.counters.frameOut(Family.STREAM);
    this.compression = r.compression;
    if (r.startTls) this.upgradeInBand();
    else if (this.decoder !== null) this.decoder.checkTlvs = !r.compression;
  }

  private route(item: Pending, block: Buffer): Promise<void> {
    if (item.family === Family.STREAM) this.authStarted = true;
    return this.host.router
      .request({
        flags: item.flags,
        family: item.family,
        type: item.type,
        sequence: item.sequence,
        block,
        connId: this.id,
        account: this.account,
        device: this.device,
        capabilities: this.capabilities,
        remoteAddress: this.remoteAddress,
        session: this.session,
      })
      .then((out) => {
        if (out.ok) {
          this.applyReply(item, out.reply);
          return;
        }
        this.host.limited.log(
          "info",
          `service-unavailable:${familyName(item.family)}:${out.reason}`,
          {
            conn: this.id,
            trace_id: this.traceId,
            account: this.account || undefined,
            remoteAddress: this.remoteAddress,
            family: familyName(item.family),
            type: typeName(item.family, item.type),
            reason: out.reason,
            detail: out.detail,
          },
          "request failed: answered SERVICE_UNAVAILABLE",
        );
        this.sendError(
          item,
          GlobalError.SERVICE_UNAVAILABLE,
          isExtensionRequest(item.flags, item.family, item.type),
        );
      });
  }

  private applyReply(item: Pending, reply: ReplyEnvelope): void {
    const a = reply.actions;
    if (this.closed) {
      // The service bound a device for a connection that is already gone: nobody else will say so.
      if ((a & ReplyAction.SET_DEVICE) !== 0 && reply.device !== undefined) {
        const account = reply.account ?? this.account;
        if (account !== "")
          this.host.orphanDevice(account, reply.device, this.id, this.closeReason, this.traceId);
      }
      return;
    }
    const frames = reply.frames.length === 0 ? undefined : OutFrames.parse(reply.frames);
    if (frames instanceof FramesError) {
      this.host.logger.warn(
        { conn: this.id, trace_id: this.traceId, family: item.family, err: frames.message },
        "service sent bad frames",
      );
      this.sendError(
        item,
        GlobalError.SERVICE_UNAVAILABLE,
        isExtensionRequest(item.flags, item.family, item.type),
      );
      return;
    }
    if (frames !== undefined) {
      this.logServiceErrors(frames);
      this.writeOut(frames);
    }
    if ((a & ReplyAction.SET_ACCOUNT) !== 0 && reply.account !== undefined && reply.account !== "") {
      if (this.accountBucket === undefined) {
        this.accountBucket = this.host.accountBuckets.acquire(reply.account, Date.now());
      }
      this.account = reply.account;
      if (this.phase === Phase.PRE_AUTH) {
        this.phase = Phase.LOGGED_IN;
        // Logged in: the pre-login deadline, block limit and memory charge no longer apply.
        this.deadline = 0;
        if (this.decoder !== null) this.decoder.maxBlockSize = this.host.maxBlockSize;
        this.updatePreLoginMemory();
      }
      this.session.setAttribute("impp.account", reply.account);
      this.session.addEvent("authenticated");
    }
    if ((a & ReplyAction.CLEAR_DEVICE) !== 0 && this.phase === Phase.BOUND) {
      this.host.unbound(this);
      this.device = "";
      this.capabilities = NO_CAPABILITIES;
      this.phase = Phase.LOGGED_IN;
      this.fifo.setConcurrent(false);
      this.session.addEvent("unbound");
    }
    if ((a & ReplyAction.SET_CAPABILITIES) !== 0 && reply.capabilities !== undefined) {
      this.capabilities = reply.capabilities;
    }
    if ((a & ReplyAction.SET_DEVICE) !== 0 && reply.device !== undefined && this.phase >= Phase.LOGGED_IN) {
      if (this.phase === Phase.BOUND) this.host.unbound(this);
      this.device = reply.device;
      this.phase = Phase.BOUND;
      this.host.bound(this);
      this.fifo.setConcurrent(true);
      this.session.setAttribute("impp.device", reply.device);
      this.session.addEvent("bound");
    }
    if ((a & ReplyAction.CLOSE_AFTER) !== 0) this.closeAfterFlush(CloseReason.SERVER_CLOSE);
  }

  /** Every error a service answered, at info (capped per family and code: clients can repeat them at will). */
  private logServiceErrors(frames: OutFrames): void {
    const b = frames.bytes;
    for (let i = 0; i < frames.starts.length; i++) {
      const p = frames.starts[i]!;
      if (frames.families[i] === undefined || b.length < p + 16) continue;
      const flags = (b[p + 2]! << 8) | b[p + 3]!;
      if ((flags & Flags.ERROR) === 0) continue;
      const family = (b[p + 4]! << 8) | b[p + 5]!;
      const type = (b[p + 6]! << 8) | b[p + 7]!;
      // The ERRORCODE TLV comes first in an error frame: type 0, length 2, the code.
      const code = b.length >= p + 22 ? (b[p + 20]! << 8) | b[p + 21]! : -1;
      const error = code < 0 ? "?" : errorName(family, code);
      this.host.limited.log(
        "info",
        `service-error:${familyName(family)}:${error}`,
        {
          conn: this.id,
          trace_id: this.traceId,
          account: this.account || undefined,
          remoteAddress: this.remoteAddress,
          family: familyName(family),
          type: typeName(family, type),
          error,
        },
        "service answered an error",
      );
    }
  }

  // ------------------------------------------------------------------ output

  /**
   * Deliveries written but not yet taken by the kernel: settled false if the connection closes first.
   * Null while there are none (an idle connection allocates nothing).
   */
  private untaken: Set<(taken: boolean) => void> | null = null;

  /**
   * DeliveryTarget: frames from a service for this account. Delivered means the kernel took the
   * bytes (the write callback), not that they sit in this process's output buffer: those die with
   * the connection (slow reader, drain, shutdown) or the process (kill -9).
   */
  deliver(frames: OutFrames, closeAfter: boolean): boolean | Promise<boolean> {
    if (this.closed || this.ending) return false;
    return new Promise<boolean>((resolve) => {
      let done = false;
      const settle = (taken: boolean) => {
        if (done) return;
        done = true;
        this.untaken?.delete(settle);
        resolve(taken);
      };
      if (this.untaken === null) this.untaken = new Set();
      this.untaken.add(settle);
      const written = this.writeOut(frames, (err) => settle(err == null));
      if (!written) settle(false);
      else if (closeAfter) this.closeAfterFlush(CloseReason.SERVER_CLOSE);
    });
  }

  /** DeliveryTarget: a delivery was not taken within the flush deadline. */
  cutOff(): void {
    this.close(CloseReason.SLOW_READER);
  }

  /** A complete uncompressed message (the drain notice); compressed here when the session is. */
  sendRaw(message: Buffer): boolean {
    const frames = OutFrames.parse(message);
    if (frames instanceof FramesError) return false;
    return this.writeOut(frames);
  }

  private writeOut(frames: OutFrames, taken?: (err?: Error | null) => void): boolean {
    for (const f of frames.families) this.host.counters.frameOut(f);
    if (this.host.frameLog !== undefined) this.host.frameLog.framesOut(this, frames.bytes);
    return this.write(this.compression ? frames.compressed() : frames.bytes, taken);
  }

  private sendMessage(h: FrameHeader, w: TlvWriter): void {
    this.host.counters.frameOut(h.family);
    if (this.compression) {
      const block = w.finish();
      if (this.host.frameLog !== undefined) this.host.frameLog.frameOut(this, h, block);
      this.write(encodeFrameCompressed(h, block));
      return;
    }
    const bytes = w.frame(h);
    if (this.host.frameLog !== undefined) this.host.frameLog.framesOut(this, bytes);
    this.write(bytes);
  }

  private sendError(h: FrameHeader, code: number, extension: boolean, extra?: Uint8Array): void {
    this.host.counters.error(h.family, code);
    this.host.counters.frameOut(h.family);
    if (!this.compression) {
      const bytes = encodeError(h.family, h.type, h.sequence, code, extra, extension);
      if (this.host.frameLog !== undefined) this.host.frameLog.framesOut(this, bytes);
      this.write(bytes);
      return;
    }
    const w = new TlvWriter(6 + (extra?.length ?? 0)).u16(0, code);
    if (extra !== undefined) w.raw(extra);
    const flags = Flags.ERROR | (extension ? Flags.EXTENSION : 0);
    const header = { flags, family: h.family, type: h.type, sequence: h.sequence };
    const block = w.finish();
    if (this.host.frameLog !== undefined) this.host.frameLog.frameOut(this, header, block);
    this.write(encodeFrameCompressed(header, block));
  }

  /** The socket corked in this tick (the socket changes at the TLS upgrade). */
  private corkedOn: net.Socket | undefined;
  private uncork(): void {
    const s = this.corkedOn;
    this.corkedOn = undefined;
    s?.uncork();
  }

  private static uncorkLater(c: Connection): void {
    c.uncork();
  }

  /** False when the connection is gone or was just closed as a slow reader. */
  private write(data: Uint8Array, taken?: (err?: Error | null) => void): boolean {
    if (this.closed || this.ending) return false;
    // Writes made in one tick (a response and indications, several deliveries) leave as one
    // writev: one TLS record and one syscall instead of one each.
    if (this.corkedOn === undefined) {
      this.corkedOn = this.socket;
      this.socket.cork();
      process.nextTick(Connection.uncorkLater, this);
    }
    this.socket.write(data, taken);
    this.host.counters.bytesOut(data.length);
    // Checked on every write, so a reader that stopped reading is cut off before its backlog grows
    // past the limit by more than one write — the sweeper alone would let it grow for a whole interval.
    if (this.socket.writableLength > this.host.maxOutputBuffer) {
      this.close(CloseReason.SLOW_READER);
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ TLS

  private upgradeInBand(): void {
    this.upgrading = true;
    const raw = this.raw;
    raw.pause();
    raw.removeListener("data", Connection.socketData);
    // Bytes read past the FEATURES_SET (a pipelining client's ClientHello) go back to the socket,
    // where TLSSocket picks them up as its first input.
    const leftover = this.takeLeftover();
    this.plainChunks = null;
    if (leftover.length > 0) raw.unshift(leftover);
    this.phase = Phase.PRE_AUTH;
    this.startTls();
  }

  private startTls(): void {
    // The FEATURES_SET response must be on the wire before TLS takes the socket over.
    this.uncork();
    this.upgrading = true;
    this.setDeadline(this.host.tlsHandshakeTimeoutMs, CloseReason.TLS_HANDSHAKE_TIMEOUT);
    const s = new tls.TLSSocket(this.raw, { isServer: true, secureContext: this.host.secureContext });
    (s as Owned)[OWNER] = this;
    s.on("secure", Connection.socketSecure);
    s.on("data", Connection.socketData);
    s.on("error", Connection.socketError);
    s.on("close", Connection.socketClose);
    this.socket = s;
    this.decoder = null;
    if (this.pausedFor !== 0) s.pause();
    this.updatePreLoginMemory();
  }

  private onSecure(): void {
    // Next: the version message (TLS-first port), then AUTHENTICATE, each within its deadline.
    if (this.phase < Phase.LOGGED_IN) {
      if (this.versionDone) this.setDeadline(this.host.loginTimeoutMs, CloseReason.PRELOGIN_TIMEOUT);
      else this.setDeadline(this.host.versionTimeoutMs, CloseReason.PRELOGIN_TIMEOUT);
    } else this.deadline = 0;
    this.upgrading = false;
    if (this.session.isRecording())
      this.session.addEvent("tls", { "tls.protocol": (this.socket as tls.TLSSocket).getProtocol() ?? "" });
    // Input is only read while not upgrading: anything that came in before this event waits in the decoder.
    if (this.decoder === null || this.decoder.buffered === 0) return;
    try {
      this.readFrames();
    } catch (e) {
      this.queueFailed(e);
    }
  }

  private takeLeftover(): Buffer {
    const need = this.decoder?.buffered ?? 0;
    const chunks = this.plainChunks;
    if (need === 0 || chunks === null || chunks.length === 0) return EMPTY;
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    return all.subarray(all.length - need);
  }

  /** Keeps only the trailing chunks that still hold bytes the decoder has not consumed. */
  private trimPlainChunks(): void {
    const chunks = this.plainChunks!;
    const need = this.decoder?.buffered ?? 0;
    let have = 0;
    let i = chunks.length;
    while (i > 0 && have < need) {
      i--;
      have += chunks[i]!.length;
    }
    if (i > 0) chunks.splice(0, i);
  }

  // ------------------------------------------------------------------ flow control and closing

  /** Sets or clears one reason to pause reading; the socket is paused while any reason holds. */
  private setPaused(bit: number, on: boolean): void {
    const before = this.pausedFor;
    this.pausedFor = on ? before | bit : before & ~bit;
    if (this.closed || this.ending || this.upgrading) return;
    if (before === 0 && this.pausedFor !== 0) this.socket.pause();
    else if (before !== 0 && this.pausedFor === 0) this.socket.resume();
  }

  /** FifoOwner: a request settled; parked requests move up, and reading resumes once they all have. */
  queueSettled(): void {
    if (this.closed || this.ending) return;
    const parked = this.parked;
    if (parked !== null) {
      while (parked.length > 0 && this.fifo.size < MAX_QUEUED_REQUESTS) {
        const item = parked.shift()!;
        this.parkedBytes -= item.block.length;
        this.fifo.push(item);
        if (this.closed || this.ending) return;
      }
      if (parked.length > 0) return;
      this.parked = null;
      this.parkedBytes = 0;
    }
    if ((this.pausedFor & PAUSE_QUEUE) === 0) return;
    this.setPaused(PAUSE_QUEUE, false);
    // Frames already buffered in the decoder come first.
    this.host.turns.later(this);
  }

  /** Writes already queued go out, then the connection closes (CLOSE_AFTER, fatal protocol errors). */
  closeAfterFlush(reason: CloseReason): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.closeReason = reason;
    this.fifo.close();
    this.closeDeadline = Date.now() + CLOSE_GRACE_MS;
    this.socket.end();
  }

  /** Closes at once (Sweepable, drain, stop, slow reader). */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.socket.destroy();
    if (this.socket !== this.raw) this.raw.destroy();
    this.finish(reason);
  }

  private onClose(): void {
    this.finish(this.ending ? this.closeReason : CloseReason.CLIENT_CLOSED);
  }

  private onError(e: Error): void {
    this.host.logger.debug({ conn: this.id, trace_id: this.traceId, err: e.message }, "socket error");
    this.close(CloseReason.SOCKET_ERROR);
  }

  /** FifoOwner, and every socket handler's catch: a bug of ours closes this connection only. */
  queueFailed(e: unknown): void {
    this.host.logger.error({ conn: this.id, trace_id: this.traceId, err: e }, "connection handler failed");
    this.close(CloseReason.INTERNAL_ERROR);
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.fifo.close();
    this.plainChunks = null;
    this.parked = null;
    this.parkedBytes = 0;
    if (this.throttleTimer !== undefined) clearTimeout(this.throttleTimer);
    this.throttleTimer = undefined;
    if (this.accountBucket !== undefined) this.host.accountBuckets.release(this.account);
    this.accountBucket = undefined;
    this.updatePreLoginMemory();
    // Whatever the kernel had not taken is lost with the socket: those deliveries were not made.
    const untaken = this.untaken;
    this.untaken = null;
    if (untaken !== null) for (const settle of untaken) settle(false);
    this.host.closed(this, reason);
    this.session.setAttribute("impp.close_reason", closeReasonLabel(reason));
    this.session.end();
  }
}
