// Test helpers (not exported from the package): a raw-socket IMPP client driven by the codec, an
// edge on the real in-process bus and session store, and scripted fake *services* on that bus.
import net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import {
  type Bus,
  type BusMessage,
  createMemoryBus,
  decodeRequest,
  encodeReply,
  isEnvelopeError,
  ReplyAction,
  type ReplyEnvelope,
  type RequestEnvelope,
  subjects,
} from "@impp/bus";
import { type Config, loadConfig } from "@impp/config";
import {
  DeviceTlv,
  DeviceType,
  deflateBlock,
  encodeVersion,
  Family,
  Feature,
  Flags,
  FrameDecoder,
  inflateBlock,
  ProtocolError,
  StreamTlv,
  StreamType,
  TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { createMetrics, createTelemetry, Registry, type Telemetry } from "@impp/telemetry";
import { generate } from "selfsigned";
import { type EdgeHandle, startEdge } from "./edge.js";
import { type DeviceGone, deviceGoneEvent } from "./events.js";

let certPromise: Promise<{ key: string; cert: string }> | undefined;

/** One self-signed certificate per test process. */
export function testCert(): Promise<{ key: string; cert: string }> {
  certPromise ??= generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    algorithm: "sha256",
  }).then((p) => ({ key: p.private, cert: p.cert }));
  return certPromise;
}

export type ConfigOverrides = Partial<Omit<Config, "limits">> & {
  limits?: Partial<Config["limits"]>;
};

export function testConfig(over: ConfigOverrides = {}): Config {
  const base = loadConfig({ IMPP_HOST: "127.0.0.1", IMPP_LOG_LEVEL: "silent" });
  if (!("port" in base)) throw base;
  return {
    ...base,
    port: 0,
    tlsPort: 0,
    edgeId: `edge-${Math.random().toString(36).slice(2, 8)}`,
    serverName: "edge.test:3158",
    ...over,
    limits: { ...base.limits, ...over.limits },
  };
}

export interface Stack {
  edge: EdgeHandle;
  bus: Bus;
  sessions: SessionStore;
  telemetry: Telemetry;
  config: Config;
  stop(): Promise<void>;
}

export async function startStack(over: ConfigOverrides = {}): Promise<Stack> {
  const config = testConfig(over);
  const bus = createMemoryBus();
  const sessions = createMemorySessionStore();
  const telemetry = createTelemetry({
    serviceName: "edge-test",
    logLevel: "silent",
    metrics: createMetrics(new Registry(), { processMetrics: false }),
  });
  const edge = await startEdge({ config, bus, sessions, telemetry, tls: await testCert() });
  return {
    edge,
    bus,
    sessions,
    telemetry,
    config,
    async stop() {
      await edge.stop();
      await bus.close();
      await sessions.close();
      await telemetry.shutdown();
    },
  };
}

// ---------------------------------------------------------------- fake services

export type ServiceHandler = (
  req: RequestEnvelope,
  msg: BusMessage,
) => ReplyEnvelope | Promise<ReplyEnvelope> | undefined | Promise<undefined>;

/** A scripted stand-in for the service owning `family`; returns the requests it saw, in order. */
export function fakeService(bus: Bus, family: number, handler: ServiceHandler): RequestEnvelope[] {
  const seen: RequestEnvelope[] = [];
  bus.subscribe(
    subjects.request(family),
    async (msg) => {
      const req = decodeRequest(msg.data);
      if (isEnvelopeError(req)) throw req;
      seen.push(req);
      const reply = await handler(req, msg);
      if (reply !== undefined) msg.respond(encodeReply(reply));
    },
    { queue: subjects.serviceQueue(family) },
  );
  return seen;
}

/** A response frame to `req` with the given TLVs. */
export function responseTo(req: RequestEnvelope, w: TlvWriter = new TlvWriter()): Buffer {
  return Buffer.from(
    w.frame({ flags: Flags.RESPONSE, family: req.family, type: req.type, sequence: req.sequence }),
  );
}

export function reply(frames: Uint8Array[], extra: Partial<ReplyEnvelope> = {}): ReplyEnvelope {
  return { actions: 0, frames: Buffer.concat(frames), ...extra };
}

/** Auth: NAME → logged in as that name (SET_ACCOUNT), response echoes NAME. */
export function fakeAuth(bus: Bus, gate?: () => Promise<void>): RequestEnvelope[] {
  return fakeService(bus, Family.STREAM, async (req) => {
    if (gate) await gate();
    const b = TlvBlock.parse(Buffer.from(req.block), Family.STREAM);
    if (b instanceof ProtocolError) throw b;
    const name = b.string(StreamTlv.NAME);
    if (typeof name !== "string") throw new Error("no NAME");
    return reply(
      [responseTo(req, new TlvWriter().string(StreamTlv.NAME, name).u64(StreamTlv.TIMESTAMP, 1))],
      {
        actions: ReplyAction.SET_ACCOUNT,
        account: name,
      },
    );
  });
}

/** Presence (DEVICE): BIND → SET_DEVICE + SET_CAPABILITIES from DEVICE_NAME / CAPABILITIES. */
export function fakeDevice(bus: Bus): RequestEnvelope[] {
  return fakeService(bus, Family.DEVICE, (req) => {
    const b = TlvBlock.parse(Buffer.from(req.block), Family.DEVICE);
    if (b instanceof ProtocolError) throw b;
    if (req.type !== DeviceType.BIND) return reply([responseTo(req)]);
    const name = b.string(DeviceTlv.DEVICE_NAME);
    const caps = b.u16list(DeviceTlv.CAPABILITIES) ?? [];
    if (typeof name !== "string" || caps instanceof ProtocolError) throw new Error("bad BIND");
    return reply([responseTo(req, new TlvWriter().string(DeviceTlv.DEVICE_NAME, name))], {
      actions: ReplyAction.SET_DEVICE | ReplyAction.SET_CAPABILITIES,
      device: name,
      capabilities: caps,
    });
  });
}

export function authenticateBlock(name: string): Buffer {
  return new TlvWriter()
    .u16(StreamTlv.MECHANISM, 1)
    .string(StreamTlv.NAME, name)
    .string(StreamTlv.PASSWORD, "pw")
    .finish();
}

export function bindBlock(device: string, caps: number[]): Buffer {
  return new TlvWriter().string(DeviceTlv.DEVICE_NAME, device).u16list(DeviceTlv.CAPABILITIES, caps).finish();
}

// ---------------------------------------------------------------- raw client

export interface VersionMsg {
  channel: 1;
  version: number;
}
export interface TlvMsg {
  channel: 2;
  flags: number;
  family: number;
  type: number;
  sequence: number;
  /** Inflated when the session is compressed. */
  block: Buffer;
  /** The block as it came off the wire. */
  wire: Buffer;
}
export type Msg = VersionMsg | TlvMsg;

export function tlvs(m: Msg): TlvBlock {
  assertTlv(m);
  const b = TlvBlock.parse(m.block);
  if (b instanceof ProtocolError) throw b;
  return b;
}

export function assertTlv(m: Msg | null): asserts m is TlvMsg {
  if (m === null || m.channel !== 2) throw new Error(`expected a TLV message, got ${JSON.stringify(m)}`);
}

/** The ERRORCODE of an error message (throws if it is not one). */
export function errorCode(m: Msg | null): number {
  assertTlv(m);
  if ((m.flags & Flags.ERROR) === 0) throw new Error(`not an error: flags ${m.flags}`);
  const c = tlvs(m).u16(0);
  if (typeof c !== "number") throw new Error("error without ERRORCODE");
  return c;
}

export function frameBytes(
  flags: number,
  family: number,
  type: number,
  sequence: number,
  block: Uint8Array,
): Buffer {
  const out = Buffer.alloc(16 + block.length);
  out[0] = 0x6f;
  out[1] = 0x02;
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(family, 4);
  out.writeUInt16BE(type, 6);
  out.writeUInt32BE(sequence, 8);
  out.writeUInt32BE(block.length, 12);
  out.set(block, 16);
  return out;
}

export function featuresBlock(features: number): Buffer {
  return new TlvWriter().u16(StreamTlv.FEATURES, features).finish();
}

export class TestClient {
  socket: net.Socket;
  compression = false;
  private decoder = new FrameDecoder({ checkTlvs: false, maxBlockSize: 64 * 1024 * 1024 });
  private readonly queue: Msg[] = [];
  private waiter: ((m: Msg | null) => void) | undefined;
  private ended = false;
  /** Set when the server sent bytes that are not IMPP; the client then closes. */
  garbage: ProtocolError | undefined;
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  /** Random start, as real clients do (and so sequences differ between test clients). */
  seq = Math.floor(Math.random() * 0x7fffffff);

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((r) => {
      this.markClosed = r;
    });
    this.attach(socket);
  }

  static connect(port: number): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.removeListener("error", reject);
        resolve(new TestClient(s));
      });
      s.once("error", reject);
    });
  }

  static connectTls(port: number): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
        s.removeListener("error", reject);
        resolve(new TestClient(s));
      });
      s.once("error", reject);
    });
  }

  /** Connects, exchanges versions, FEATURES_SET, TLS — the usual start of a session. */
  static async open(port: number, features: number = Feature.TLS): Promise<TestClient> {
    const c = await TestClient.connect(port);
    await c.version();
    await c.startTls(features);
    return c;
  }

  /** Opens a session and logs in and binds (needs fakeAuth + fakeDevice on the bus). */
  static async bound(
    port: number,
    account: string,
    device: string,
    caps: number[] = [1],
    features: number = Feature.TLS,
  ) {
    const c = await TestClient.open(port, features);
    await c.login(account, device, caps);
    return c;
  }

  private attach(s: net.Socket): void {
    s.on("data", this.onData);
    s.on("error", () => {});
    s.on("close", this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.decoder.push(chunk);
    for (;;) {
      const f = this.decoder.next();
      if (f === null) return;
      if (f instanceof ProtocolError) {
        // Not IMPP (a TLS alert after a failed handshake…): what the test sees is the close.
        this.garbage = f;
        this.socket.destroy();
        return;
      }
      let m: Msg;
      if (f.channel === 1) m = f;
      else {
        let block = f.block;
        if (this.compression && block.length > 0) {
          const r = inflateBlock(block, 64 * 1024 * 1024);
          if (r instanceof ProtocolError) {
            this.garbage = r;
            this.socket.destroy();
            return;
          }
          block = r;
        }
        m = {
          channel: 2,
          flags: f.flags,
          family: f.family,
          type: f.type,
          sequence: f.sequence,
          block,
          wire: f.block,
        };
      }
      this.push(m);
    }
  };

  private readonly onClose = (): void => {
    this.ended = true;
    this.markClosed();
    const w = this.waiter;
    this.waiter = undefined;
    w?.(null);
  };

  private push(m: Msg): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w(m);
    } else this.queue.push(m);
  }

  /** The next message, or null once the connection closed. */
  next(): Promise<Msg | null> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.ended) return Promise.resolve(null);
    return new Promise((r) => {
      this.waiter = r;
    });
  }

  async nextTlv(): Promise<TlvMsg> {
    const m = await this.next();
    assertTlv(m);
    return m;
  }

  /** Resolves true when the server closed the connection without sending anything more. */
  async expectClose(): Promise<void> {
    const m = await this.next();
    if (m !== null)
      throw new Error(`expected close, got ${JSON.stringify({ ...m, block: undefined, wire: undefined })}`);
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** A request frame (block compressed when the session is). Returns its sequence. */
  send(
    family: number,
    type: number,
    block: Uint8Array = Buffer.alloc(0),
    flags = 0,
    sequence = ++this.seq,
  ): number {
    this.write(this.frame(family, type, block, flags, sequence));
    return sequence;
  }

  frame(family: number, type: number, block: Uint8Array, flags = 0, sequence = ++this.seq): Buffer {
    return frameBytes(flags, family, type, sequence, this.compression ? deflateBlock(block) : block);
  }

  async request(family: number, type: number, block?: Uint8Array, flags = 0): Promise<TlvMsg> {
    const seq = this.send(family, type, block, flags);
    const m = await this.nextTlv();
    if (m.sequence !== seq) throw new Error(`expected the answer to ${seq}, got ${m.sequence}`);
    return m;
  }

  async version(v = 14): Promise<Msg | null> {
    this.write(encodeVersion(v));
    return this.next();
  }

  /** FEATURES_SET, then the TLS handshake on the same socket if TLS was granted. */
  async startTls(features: number): Promise<TlvMsg> {
    const res = await this.request(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(features));
    const granted = tlvs(res).u16(StreamTlv.FEATURES);
    if ((res.flags & Flags.ERROR) !== 0 || typeof granted !== "number") return res;
    if (!(this.socket instanceof tls.TLSSocket)) {
      const raw = this.socket;
      raw.removeListener("data", this.onData);
      raw.removeListener("close", this.onClose);
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        secure.once("secureConnect", resolve);
        secure.once("error", reject);
      });
      this.socket = secure;
      this.attach(secure);
    }
    this.compression = (granted & Feature.COMPRESSION) !== 0;
    return res;
  }

  async login(account: string, device: string, caps: number[]): Promise<void> {
    const a = await this.request(Family.STREAM, StreamType.AUTHENTICATE, authenticateBlock(account));
    if (a.flags !== Flags.RESPONSE) throw new Error(`login failed: ${errorCode(a)}`);
    const b = await this.request(Family.DEVICE, DeviceType.BIND, bindBlock(device, caps));
    if (b.flags !== Flags.RESPONSE) throw new Error(`bind failed: ${errorCode(b)}`);
  }

  async ping(): Promise<TlvMsg> {
    return this.request(Family.STREAM, StreamType.PING);
  }

  /** Stops reading (a slow reader). */
  pauseReading(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A client that pipelines: version, FEATURES_SET and its TLS ClientHello leave in ONE write, before
 * any answer. The plain answers (4 + 22 bytes) are peeled off the stream before TLS sees it.
 */
export function pipelinedTlsClient(
  port: number,
  features: number,
): Promise<{ secure: tls.TLSSocket; plainAnswers: Buffer }> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: "127.0.0.1", port });
    raw.once("error", reject);
    raw.once("connect", () => {
      const prefix = Buffer.concat([
        encodeVersion(14),
        frameBytes(0, Family.STREAM, StreamType.FEATURES_SET, 1, featuresBlock(features)),
      ]);
      let prefixSent = false;
      let plain = Buffer.alloc(0);
      const PLAIN = 4 + 22;
      const duplex: Duplex = new Duplex({
        write(chunk: Buffer, _enc, cb) {
          if (!prefixSent) {
            prefixSent = true;
            raw.write(Buffer.concat([prefix, chunk]), cb);
          } else raw.write(chunk, cb);
        },
        read() {},
        final(cb) {
          raw.end();
          cb();
        },
        destroy(err, cb) {
          raw.destroy();
          cb(err);
        },
      });
      raw.on("data", (d: Buffer) => {
        if (plain.length < PLAIN) {
          const take = Math.min(PLAIN - plain.length, d.length);
          plain = Buffer.concat([plain, d.subarray(0, take)]);
          d = d.subarray(take);
        }
        if (d.length > 0) duplex.push(d);
      });
      raw.on("end", () => duplex.push(null));
      raw.on("close", () => duplex.destroy());
      const secure = tls.connect({ socket: duplex, rejectUnauthorized: false });
      secure.once("secureConnect", () => resolve({ secure, plainAnswers: plain }));
      secure.once("error", reject);
    });
  });
}

/** Lets pending I/O callbacks and timers of 0 ms run `n` times. */
export async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** Collects device-gone publications; waitFor resolves with the first one of `account` (consuming it). */
export function watchDeviceGone(bus: Bus) {
  const got: DeviceGone[] = [];
  const wakers = new Set<() => void>();
  bus.subscribe(deviceGoneEvent.subject, (msg) => {
    const e = deviceGoneEvent.decode(msg.data);
    if (isEnvelopeError(e)) throw e;
    got.push(e);
    for (const w of wakers) w();
  });
  return {
    got,
    async waitFor(account: string): Promise<DeviceGone> {
      for (;;) {
        const i = got.findIndex((g) => g.account === account);
        if (i >= 0) return got.splice(i, 1)[0]!;
        await new Promise<void>((r) => {
          const w = () => {
            wakers.delete(w);
            r();
          };
          wakers.add(w);
        });
      }
    },
  };
}
