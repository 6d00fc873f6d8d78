// Test helpers (not exported from the package): an edge on the real in-process bus and session
// store, scripted fake *services* on that bus, and a pipelining TLS client. The raw-socket
// TestClient, request blocks and frame readers are @impp/test-kit's.
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
  encodeVersion,
  Family,
  Flags,
  ProtocolError,
  StreamTlv,
  StreamType,
  TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import { createMemorySessionStore, encodeDevice, type SessionStore } from "@impp/sessions";
import { createMetrics, createTelemetry, Registry, type Telemetry } from "@impp/telemetry";
import { featuresBlock, frameBytes, testCert } from "@impp/test-kit";
import { type EdgeHandle, startEdge } from "./edge.js";
import { type DeviceGone, deviceGoneEvent } from "./events.js";

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

/**
 * Presence (DEVICE): BIND → SET_DEVICE + SET_CAPABILITIES from DEVICE_NAME / CAPABILITIES, and the
 * record the real service would have stored (DEVICE_RECORD). Registers nothing.
 */
export function fakeDevice(bus: Bus): RequestEnvelope[] {
  return fakeService(bus, Family.DEVICE, (req) => {
    const b = TlvBlock.parse(Buffer.from(req.block), Family.DEVICE);
    if (b instanceof ProtocolError) throw b;
    if (req.type !== DeviceType.BIND) return reply([responseTo(req)]);
    const name = b.string(DeviceTlv.DEVICE_NAME);
    const caps = b.u16list(DeviceTlv.CAPABILITIES) ?? [];
    if (typeof name !== "string" || caps instanceof ProtocolError) throw new Error("bad BIND");
    const record = encodeDevice({
      account: req.account,
      name,
      edgeId: req.edgeId,
      connId: req.connId,
      remoteAddress: req.remoteAddress,
      connectedAt: 1_700_000_000_000,
      status: 1,
      statusMessage: "restored as bound",
      capabilities: caps,
      isIdle: false,
      isMobile: false,
      isStatusAutomatic: false,
    });
    return reply([responseTo(req, new TlvWriter().string(DeviceTlv.DEVICE_NAME, name))], {
      actions: ReplyAction.SET_DEVICE | ReplyAction.SET_CAPABILITIES | ReplyAction.DEVICE_RECORD,
      device: name,
      capabilities: caps,
      record,
    });
  });
}

// ---------------------------------------------------------------- raw clients

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
