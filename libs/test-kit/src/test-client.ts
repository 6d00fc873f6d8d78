// A raw-socket IMPP client for tests: it writes exactly the frames a test asks for and hands back
// every frame the server sent, so a test can drive a server the way no well-behaved client would.
import net from "node:net";
import tls from "node:tls";
import {
  DeviceType,
  deflateBlock,
  encodeVersion,
  Family,
  Feature,
  Flags,
  ProtocolError,
  StreamTlv,
  StreamType,
} from "@impp/protocol";
import { authenticateBlock, bindBlock, featuresBlock, frameBytes } from "./blocks.js";
import { assertTlv, errorCode, FrameReader, tlvs, type WireFrame, type WireTlvFrame } from "./readers.js";

export class TestClient {
  socket: net.Socket;
  private readonly reader = new FrameReader();
  private readonly queue: WireFrame[] = [];
  private waiter: ((m: WireFrame | null) => void) | undefined;
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

  /** Blocks are compressed both ways: what `send` writes, and what `next` hands back (inflated). */
  get compression(): boolean {
    return this.reader.compression;
  }
  set compression(on: boolean) {
    this.reader.compression = on;
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

  /** Opens a session, logs in (password "pw") and binds; the server must accept both. */
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
    this.reader.push(chunk);
    for (;;) {
      const m = this.reader.next();
      if (m === null) return;
      if (m instanceof ProtocolError) {
        // Not IMPP (a TLS alert after a failed handshake…): what the test sees is the close.
        this.garbage = m;
        this.socket.destroy();
        return;
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

  private push(m: WireFrame): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w(m);
    } else this.queue.push(m);
  }

  /** The next frame, or null once the connection closed. */
  next(): Promise<WireFrame | null> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.ended) return Promise.resolve(null);
    return new Promise((r) => {
      this.waiter = r;
    });
  }

  async nextTlv(): Promise<WireTlvFrame> {
    const m = await this.next();
    assertTlv(m);
    return m;
  }

  /** Resolves when the server closed the connection without sending anything more. */
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

  /** The bytes `send` would write (the next sequence unless given), without writing them. */
  frame(family: number, type: number, block: Uint8Array, flags = 0, sequence = ++this.seq): Buffer {
    return frameBytes(flags, family, type, sequence, this.compression ? deflateBlock(block) : block);
  }

  /** Sends a request and takes the next frame, which must answer it. */
  async request(family: number, type: number, block?: Uint8Array, flags = 0): Promise<WireTlvFrame> {
    const seq = this.send(family, type, block, flags);
    const m = await this.nextTlv();
    if (m.sequence !== seq) throw new Error(`expected the answer to ${seq}, got ${m.sequence}`);
    return m;
  }

  async version(v = 14): Promise<WireFrame | null> {
    this.write(encodeVersion(v));
    return this.next();
  }

  /** FEATURES_SET, then the TLS handshake on the same socket if TLS was granted. */
  async startTls(features: number): Promise<WireTlvFrame> {
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

  async ping(): Promise<WireTlvFrame> {
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
