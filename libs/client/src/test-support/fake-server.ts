// A scripted IMPP peer for the client's tests: it accepts connections and lets a test read what the
// client sent (frame by frame, with the bytes as they were on the wire) and write back whatever the
// test wants — well-formed answers, out-of-order answers, garbage. It is not a server: it decides
// nothing on its own.
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import {
  encodeFrame,
  encodeFrameCompressed,
  encodeVersion,
  Family,
  Feature,
  Flags,
  ProtocolError,
  StreamTlv,
  StreamType,
  TlvBlock,
  TlvWriter,
  type VersionFrame,
} from "@impp/protocol";
import { FrameReader, type TestCert, testCert, type WireTlvFrame } from "@impp/test-kit";

export interface ReceivedTlv extends WireTlvFrame {
  /** The TLV block parsed (`block` is inflated when it was compressed; `wire` is as it came). */
  tlvs: TlvBlock;
  /** The byte length of the whole frame on the wire. */
  wireSize: number;
}
export type ReceivedVersion = VersionFrame;
export interface ReceivedGarbage {
  channel: "error";
  error: ProtocolError;
}
export type Received = ReceivedTlv | ReceivedVersion | ReceivedGarbage;

type Header = { flags: number; family: number; type: number; sequence: number };

/** One accepted connection, driven by the test. */
export class FakeConn {
  socket: net.Socket;
  tlsActive: boolean;
  /** Every plain-text (post-TLS: decrypted) byte the client sent. */
  readonly bytesIn: Buffer[] = [];
  readonly closed: Promise<void>;
  private reader = new FrameReader();
  private frames: Received[] = [];
  private waiters: Array<{ resolve(r: Received): void; reject(e: Error): void }> = [];
  private isClosed = false;
  private readonly raw: net.Socket;

  constructor(
    socket: net.Socket,
    private readonly cert: TestCert,
    direct: boolean,
  ) {
    this.raw = socket;
    this.socket = socket;
    this.tlsActive = direct;
    socket.on("data", this.onData);
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.isClosed = true;
        for (const w of this.waiters.splice(0)) w.reject(new Error("client connection closed"));
        resolve();
      });
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.bytesIn.push(chunk);
    this.reader.push(chunk);
    for (;;) {
      const f = this.reader.next();
      if (f === null) return;
      if (f instanceof ProtocolError) {
        this.deliver({ channel: "error", error: f });
        if (f.fatal) return;
        continue;
      }
      if (f.channel === 1) {
        this.deliver(f);
        continue;
      }
      const tlvs = TlvBlock.parse(f.block, f.family);
      if (tlvs instanceof ProtocolError) {
        this.deliver({ channel: "error", error: tlvs });
        continue;
      }
      this.deliver({ ...f, tlvs, wireSize: 16 + f.wire.length });
    }
  };

  private deliver(r: Received): void {
    const w = this.waiters.shift();
    if (w !== undefined) w.resolve(r);
    else this.frames.push(r);
  }

  /** The next thing the client sent. */
  next(): Promise<Received> {
    const r = this.frames.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.isClosed) return Promise.reject(new Error("client connection closed"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async expectVersion(): Promise<number> {
    const r = await this.next();
    assert.equal(r.channel, 1, `expected a version message, got ${JSON.stringify(r)}`);
    return (r as ReceivedVersion).version;
  }

  async expectTlv(family?: number, type?: number): Promise<ReceivedTlv> {
    const r = await this.next();
    if (r.channel !== 2)
      assert.fail(`expected a TLV frame, got ${r.channel === 1 ? "a version" : r.error.message}`);
    if (family !== undefined) assert.equal(r.family, family, "family");
    if (type !== undefined) assert.equal(r.type, type, "type");
    return r;
  }

  sendVersion(version: number): void {
    this.socket.write(encodeVersion(version));
  }

  /** A frame as the test says, its block compressed when compression is on. */
  send(header: Header, block: Buffer | TlvWriter = Buffer.alloc(0)): void {
    this.socket.write(this.encode(header, block));
  }

  encode(header: Header, block: Buffer | TlvWriter = Buffer.alloc(0)): Buffer {
    const b = block instanceof TlvWriter ? block.finish() : block;
    return this.compression ? encodeFrameCompressed(header, b) : encodeFrame(header, b);
  }

  reply(req: ReceivedTlv, block?: Buffer | TlvWriter, flags: number = Flags.RESPONSE): void {
    this.send({ flags, family: req.family, type: req.type, sequence: req.sequence }, block);
  }

  replyError(req: ReceivedTlv, code: number): void {
    this.reply(req, new TlvWriter().u16(0, code), Flags.ERROR);
  }

  indicate(family: number, type: number, block?: Buffer | TlvWriter): void {
    this.send({ flags: Flags.INDICATION, family, type, sequence: 0 }, block);
  }

  /** Whether blocks are zlib streams (set with setCompression). */
  get compression(): boolean {
    return this.reader.compression;
  }

  /** From the next frame on, blocks are zlib both ways. */
  setCompression(on: boolean): void {
    this.reader.compression = on;
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /**
   * Answers FEATURES_SET with `granted`, then — in the same tick, so no client byte is read as
   * plain text — starts server-side TLS if granted and not up yet. Compression, if granted, is on
   * for everything after the response.
   */
  grantFeatures(req: ReceivedTlv, granted: number, then?: (conn: FakeConn) => void): Promise<void> {
    this.reply(req, new TlvWriter().u16(StreamTlv.FEATURES, granted));
    if ((granted & Feature.COMPRESSION) !== 0) this.setCompression(true);
    if ((granted & Feature.TLS) === 0 || this.tlsActive) return Promise.resolve();
    const raw = this.raw;
    raw.off("data", this.onData);
    raw.pause();
    const compression = this.compression;
    this.reader = new FrameReader();
    this.reader.compression = compression;
    const t = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: tls.createSecureContext({ key: this.cert.key, cert: this.cert.cert }),
    });
    this.socket = t;
    t.on("error", () => {});
    t.on("data", this.onData);
    return new Promise((resolve, reject) => {
      t.once("secure", () => {
        this.tlsActive = true;
        then?.(this);
        resolve();
      });
      t.once("error", reject);
    });
  }

  /** The usual opening, checked: version echo, FEATURES_SET answered with what was asked (minus `deny`), TLS. */
  async handshake(
    opts: { deny?: number } = {},
  ): Promise<{ version: number; requested: number; sequence: number }> {
    const version = await this.expectVersion();
    this.sendVersion(version);
    const req = await this.expectTlv(Family.STREAM, StreamType.FEATURES_SET);
    const requested = req.tlvs.u16(StreamTlv.FEATURES);
    assert.equal(typeof requested, "number");
    await this.grantFeatures(req, (requested as number) & ~(opts.deny ?? 0));
    return { version, requested: requested as number, sequence: req.sequence };
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
    this.raw.destroy();
  }
}

export class FakeServer {
  private conns: FakeConn[] = [];
  private waiters: Array<(c: FakeConn) => void> = [];
  private readonly all: FakeConn[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** `direct`: a TLS-first listener (the 443 style); otherwise plain TCP with in-band TLS on request. */
  static async start(opts: { direct?: boolean } = {}): Promise<FakeServer> {
    const cert = await testCert();
    const direct = opts.direct ?? false;
    let self: FakeServer | undefined;
    const onConn = (s: net.Socket) => self?.accepted(new FakeConn(s, cert, direct));
    const server = direct
      ? tls.createServer({ key: cert.key, cert: cert.cert }, onConn)
      : net.createServer({ noDelay: true }, onConn);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new FakeServer(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  private accepted(c: FakeConn): void {
    this.all.push(c);
    const w = this.waiters.shift();
    if (w) w(c);
    else this.conns.push(c);
  }

  accept(): Promise<FakeConn> {
    const c = this.conns.shift();
    if (c) return Promise.resolve(c);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const c of this.all) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
