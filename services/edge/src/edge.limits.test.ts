// Integration: connection limit, idle and TLS handshake timeouts, slow readers, drain and stop.
// No timed assertions: short configured timeouts, and the tests wait for the outcome itself.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import {
  type DeliveryEnvelope,
  DeliveryFilter,
  decodeDeliveryAck,
  encodeDelivery,
  isEnvelopeError,
  subjects,
} from "@impp/bus";
import {
  DeviceError,
  DeviceTlv,
  DeviceType,
  Family,
  Feature,
  Flags,
  GlobalError,
  StreamType,
  TlvWriter,
} from "@impp/protocol";
import { errorCode, featuresBlock, frameBytes, TestClient, tlvs } from "@impp/test-kit";
import { readyConnectionLimit } from "./edge.js";
import { CloseReason } from "./sweeper.js";
import { fakeAuth, fakeDevice, type Stack, startStack, watchDeviceGone } from "./test-support.js";

async function withStack(
  over: Parameters<typeof startStack>[0],
  fn: (s: Stack) => Promise<void>,
): Promise<void> {
  const s = await startStack(over);
  fakeAuth(s.bus);
  fakeDevice(s.bus);
  try {
    await fn(s);
  } finally {
    await s.stop();
  }
}

async function closedCount(s: Stack, reason: string): Promise<number> {
  const m = await s.telemetry.metrics.connectionsClosed.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

describe("connection limit", () => {
  test("past maxConnections a plain connection gets SERVICE_UNAVAILABLE and is closed; a TLS-first one is dropped", async () => {
    await withStack({ limits: { maxConnections: 2 } }, async (s) => {
      const a = await TestClient.open(s.edge.ports.plain);
      const b = await TestClient.connect(s.edge.ports.plain);
      await b.version();
      assert.equal(s.edge.connectionCount, 2);
      const c = await TestClient.connect(s.edge.ports.plain);
      const e = await c.nextTlv();
      assert.equal(errorCode(e), GlobalError.SERVICE_UNAVAILABLE);
      assert.deepEqual([e.family, e.type, e.sequence], [Family.STREAM, 0, 0]);
      await c.expectClose();
      await assert.rejects(TestClient.connectTls(s.edge.ports.tls!));
      // The ones inside are untouched, and a freed slot is usable again.
      await a.ping();
      b.close();
      await b.closed;
      while (s.edge.connectionCount > 1) await new Promise((r) => setImmediate(r));
      const d = await TestClient.open(s.edge.ports.plain);
      await d.ping();
      assert.equal(await closedCount(s, "limit"), 2);
      a.close();
      d.close();
    });
  });
});

describe("readiness near the connection limit", () => {
  test("at IMPP_READY_MAX_CONNECTIONS_PERCENT of maxConnections the edge is not ready, yet serves and accepts", async () => {
    // 10 × 50 % = 5: ready with 4 connections, not with 5; still accepting up to 10.
    await withStack({ limits: { maxConnections: 10, readyMaxConnectionsPercent: 50 } }, async (s) => {
      const clients: TestClient[] = [];
      for (let i = 0; i < 4; i++) clients.push(await TestClient.open(s.edge.ports.plain));
      assert.equal(s.edge.connectionCount, 4);
      assert.equal(s.edge.ready(), true);
      clients.push(await TestClient.open(s.edge.ports.plain));
      assert.equal(s.edge.connectionCount, 5);
      assert.equal(s.edge.ready(), false);
      // Not ready is not full: a client that still comes (a stale balancer entry) is served.
      const late = await TestClient.bound(s.edge.ports.plain, "late", "l");
      await late.ping();
      assert.equal(s.edge.ready(), false);
      late.close();
      await late.closed;
      clients.pop()!.close();
      while (s.edge.connectionCount > 4) await new Promise((r) => setImmediate(r));
      assert.equal(s.edge.ready(), true, "ready again once below the threshold");
      for (const c of clients) c.close();
    });
  });

  test("the threshold: percent of the limit rounded down, never below one connection", async () => {
    assert.equal(readyConnectionLimit(100_000, 90), 90_000);
    assert.equal(readyConnectionLimit(10, 95), 9);
    assert.equal(readyConnectionLimit(10, 100), 10);
    assert.equal(readyConnectionLimit(1, 50), 1);
  });
});

describe("timeouts (one sweeper for all connections)", () => {
  test("a connection silent for idleTimeoutMs is closed; device-gone says why", async () => {
    await withStack({ limits: { idleTimeoutMs: 300 } }, async (s) => {
      const gone = watchDeviceGone(s.bus);
      const c = await TestClient.bound(s.edge.ports.plain, "sleepy", "bed");
      await c.expectClose();
      const g = await gone.waitFor("sleepy");
      assert.equal(g.reason, CloseReason.IDLE_TIMEOUT);
      assert.equal(await closedCount(s, "idle_timeout"), 1);
    });
  });

  test("a TLS handshake that never comes closes the connection (in-band and TLS-first)", async () => {
    await withStack({ limits: { tlsHandshakeTimeoutMs: 200 } }, async (s) => {
      const c = await TestClient.connect(s.edge.ports.plain);
      await c.version();
      const res = await c.request(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(Feature.TLS));
      assert.equal(res.flags, Flags.RESPONSE);
      // We never start TLS.
      await c.expectClose();
      const raw = net.connect({ host: "127.0.0.1", port: s.edge.ports.tls! });
      await new Promise((r) => raw.once("close", r));
      assert.equal(await closedCount(s, "tls_handshake_timeout"), 2);
    });
  });
});

describe("slow reader", () => {
  test("a connection whose unsent output passes maxOutputBuffer is closed before the edge buffers more", async () => {
    await withStack({ limits: { maxOutputBuffer: 64 * 1024 } }, async (s) => {
      const gone = watchDeviceGone(s.bus);
      const slow = await TestClient.bound(s.edge.ports.plain, "slow", "modem");
      const fast = await TestClient.bound(s.edge.ports.plain, "fast", "fiber");
      slow.pauseReading();
      const big = new TlvWriter().bytes(6, Buffer.alloc(60 * 1024, 0x61)).frame({
        flags: Flags.INDICATION,
        family: Family.IM,
        type: 3,
        sequence: 0,
      });
      const env: DeliveryEnvelope = {
        account: "slow",
        filter: DeliveryFilter.ALL,
        device: "",
        capability: 0,
        closeAfter: false,
        frames: big,
      };
      let sent = 0;
      for (;;) {
        const msg = await s.bus.request(subjects.edge(s.edge.edgeId), encodeDelivery(env), {
          timeoutMs: 2000,
        });
        const ack = decodeDeliveryAck(msg.data);
        if (isEnvelopeError(ack)) throw ack;
        if (ack.delivered === 0) break;
        sent++;
        // Kernel socket buffers absorb a few MB first; without the limit this would go on forever.
        assert.ok(sent < 2000, "the slow reader was never cut off");
      }
      const g = await gone.waitFor("slow");
      assert.equal(g.reason, CloseReason.SLOW_READER);
      await fast.ping();
      fast.close();
      slow.close();
    });
  });
});

describe("drain", () => {
  test("IMPP_DRAIN_REDIRECT, when set, is the SERVER clients are sent to", async () => {
    await withStack(
      {
        limits: { drainGraceMs: 100 },
        serverName: "this-edge.test:3158",
        drainRedirect: "elsewhere.test:3158",
      },
      async (s) => {
        const c = await TestClient.bound(s.edge.ports.plain, "moving", "a");
        const drained = s.edge.drain();
        const n = await c.nextTlv();
        assert.equal(errorCode(n), DeviceError.DEVICE_BOUND_ELSEWHERE);
        assert.equal(tlvs(n).string(DeviceTlv.SERVER), "elsewhere.test:3158");
        await drained;
        c.close();
      },
    );
  });

  test("stop accepting, not ready, bound clients told DEVICE_BOUND_ELSEWHERE with SERVER, the rest closed after the grace", async () => {
    await withStack({ limits: { drainGraceMs: 300 }, serverName: "other-edge.test:3158" }, async (s) => {
      const gone = watchDeviceGone(s.bus);
      const leaver = await TestClient.bound(s.edge.ports.plain, "leaver", "a");
      const stayer = await TestClient.bound(
        s.edge.ports.plain,
        "stayer",
        "b",
        [1],
        Feature.TLS | Feature.COMPRESSION,
      );
      const unbound = await TestClient.open(s.edge.ports.plain);
      assert.equal(s.edge.ready(), true);
      const drained = s.edge.drain();
      assert.equal(s.edge.ready(), false);
      for (const c of [leaver, stayer]) {
        const n = await c.nextTlv();
        assert.deepEqual(
          [n.flags, n.family, n.type, n.sequence],
          [Flags.ERROR, Family.DEVICE, DeviceType.BIND, 0],
        );
        assert.equal(errorCode(n), DeviceError.DEVICE_BOUND_ELSEWHERE);
        assert.equal(tlvs(n).string(DeviceTlv.SERVER), "other-edge.test:3158");
      }
      assert.equal(await connectionRefused(s.edge.ports.plain), true);
      assert.equal(await connectionRefused(s.edge.ports.tls!), true);
      // Still served during the grace period.
      await stayer.ping();
      leaver.close();
      assert.equal((await gone.waitFor("leaver")).reason, CloseReason.CLIENT_CLOSED);
      await drained;
      assert.equal(s.edge.connectionCount, 0);
      await stayer.expectClose();
      await unbound.expectClose();
      assert.equal((await gone.waitFor("stayer")).reason, CloseReason.DRAIN);
    });
  });

  test("stop closes every connection at once and publishes their device-gone", async () => {
    const s = await startStack();
    fakeAuth(s.bus);
    fakeDevice(s.bus);
    const gone = watchDeviceGone(s.bus);
    const c = await TestClient.bound(s.edge.ports.plain, "victim", "v");
    await s.edge.stop();
    await c.expectClose();
    assert.equal((await gone.waitFor("victim")).reason, CloseReason.SHUTDOWN);
    assert.equal(s.edge.connectionCount, 0);
    await s.stop();
  });
});

describe("frames of one write split across reads", () => {
  test("a request trickled one byte at a time is answered once complete", async () => {
    await withStack({}, async (s) => {
      const c = await TestClient.bound(s.edge.ports.plain, "trickle", "t");
      const f = frameBytes(0, Family.STREAM, StreamType.PING, 77, Buffer.alloc(0));
      for (const byte of f) {
        c.write(Buffer.from([byte]));
        await new Promise((r) => setImmediate(r));
      }
      const pong = await c.nextTlv();
      assert.equal(pong.sequence, 77);
      c.close();
    });
  });
});
