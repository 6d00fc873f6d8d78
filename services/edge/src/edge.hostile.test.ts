// Issue #11 at the edge: pre-login limits (block size, deadlines, a memory budget), the TLV bound,
// and PING answered on arrival whatever the queues hold. No timed assertions: short configured
// deadlines, and the tests wait for the outcome itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Family, Feature, Flags, GlobalError, ImType, StreamType, TlvWriter } from "@impp/protocol";
import { errorCode, TestClient } from "@impp/test-kit";
import { fakeAuth, fakeDevice, fakeService, type Stack, startStack } from "./test-support.js";

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

async function metric(s: Stack, name: "connectionsClosed" | "throttled", label: string): Promise<number> {
  const m = await s.telemetry.metrics[name].get();
  return m.values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0;
}

/** A block of `n` TLVs of type 1 with `size`-byte values. */
function tlvBlock(n: number, size = 0): Buffer {
  const w = new TlvWriter();
  for (let i = 0; i < n; i++) w.bytes(1, Buffer.alloc(size, 0x61));
  return Buffer.from(w.finish());
}

describe("pre-login limits", () => {
  test("before login a block over IMPP_PRELOGIN_MAX_BLOCK is INVALID_TLV_LENGTH and close; after login the full limit applies", async () => {
    await withStack({ limits: { preLoginMaxBlock: 1024 } }, async (s) => {
      // Before TLS.
      const plain = await TestClient.connect(s.edge.ports.plain);
      await plain.version();
      plain.send(Family.STREAM, StreamType.PING, tlvBlock(1, 2000));
      const e1 = await plain.nextTlv();
      assert.equal(errorCode(e1), GlobalError.INVALID_TLV_LENGTH);
      await plain.expectClose();
      // After TLS, before login.
      const early = await TestClient.open(s.edge.ports.plain);
      early.send(Family.STREAM, StreamType.AUTHENTICATE, tlvBlock(1, 2000));
      assert.equal(errorCode(await early.nextTlv()), GlobalError.INVALID_TLV_LENGTH);
      await early.expectClose();
      // Logged in: the same block is an ordinary (answered) PING.
      const c = await TestClient.bound(s.edge.ports.plain, "big", "desk");
      const res = await c.request(Family.STREAM, StreamType.PING, tlvBlock(1, 2000));
      assert.equal(res.flags, Flags.RESPONSE);
      c.close();
    });
  });

  test("a block with more TLVs than IMPP_MAX_TLVS_PER_BLOCK is INVALID_TLV_LENGTH and the session goes on (plain and compressed)", async () => {
    await withStack({ limits: { maxTlvsPerBlock: 1000 } }, async (s) => {
      for (const features of [Feature.TLS, Feature.TLS | Feature.COMPRESSION]) {
        const c = await TestClient.bound(s.edge.ports.plain, "many", `d${features}`, [1], features);
        assert.equal(c.compression, (features & Feature.COMPRESSION) !== 0);
        const ok = await c.request(Family.STREAM, StreamType.PING, tlvBlock(1000));
        assert.equal(ok.flags, Flags.RESPONSE, "1000 TLVs are within the bound");
        // The attack block: 65,535 empty TLVs, 262,140 bytes.
        const res = await c.request(Family.STREAM, StreamType.PING, tlvBlock(65_535));
        assert.equal(errorCode(res), GlobalError.INVALID_TLV_LENGTH);
        assert.equal((await c.ping()).flags, Flags.RESPONSE, "the session goes on");
        c.close();
      }
    });
  });

  test("every phase before login has a deadline: silent, version only, FEATURES_SET never sent, TLS up but no AUTHENTICATE", async () => {
    const limits = {
      versionTimeoutMs: 200,
      featuresTimeoutMs: 200,
      loginTimeoutMs: 300,
      tlsHandshakeTimeoutMs: 200,
    };
    await withStack({ limits }, async (s) => {
      const user = await TestClient.bound(s.edge.ports.plain, "stays", "desk");
      const silent = await TestClient.connect(s.edge.ports.plain);
      const versionOnly = await TestClient.connect(s.edge.ports.plain);
      await versionOnly.version();
      const noLogin = await TestClient.open(s.edge.ports.plain);
      const tlsFirstSilent = await TestClient.connectTls(s.edge.ports.tls!);
      const tlsFirstNoLogin = await TestClient.connectTls(s.edge.ports.tls!);
      await tlsFirstNoLogin.version();
      for (const c of [silent, versionOnly, noLogin, tlsFirstSilent, tlsFirstNoLogin]) await c.expectClose();
      assert.equal(await metric(s, "connectionsClosed", "prelogin_timeout"), 5);
      // A logged-in session has no such deadline (its idle timeout is the default 300 s).
      assert.equal((await user.ping()).flags, Flags.RESPONSE);
      user.close();
    });
  });

  test("past IMPP_PRELOGIN_MEMORY new connections are refused and counted; logged-in users are untouched; room frees up", async () => {
    await withStack({ limits: { preLoginMemory: 1024 * 1024 } }, async (s) => {
      const user = await TestClient.bound(s.edge.ports.plain, "inside", "desk");
      const held: TestClient[] = [];
      let refused: TestClient | undefined;
      for (let i = 0; i < 200 && refused === undefined; i++) {
        const c = await TestClient.connect(s.edge.ports.plain);
        c.write(Buffer.from([0x6f, 0x01, 0x00, 0x0e]));
        const first = await c.next();
        if (first !== null && first.channel === 2 && errorCode(first) === GlobalError.SERVICE_UNAVAILABLE) {
          refused = c;
          break;
        }
        held.push(c);
        // Most of a (pre-login-sized) block, never finished: held by the edge.
        c.write(
          Buffer.concat([
            Buffer.from([0x6f, 2, 0, 0, 0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0x0f, 0xa0]),
            Buffer.alloc(3000),
          ]),
        );
      }
      assert.ok(refused !== undefined, "a connection was refused");
      await refused.expectClose();
      assert.ok(held.length >= 10 && held.length <= 64, `${held.length} pre-login connections fit in 1 MiB`);
      assert.ok((await metric(s, "connectionsClosed", "prelogin_memory")) >= 1);
      assert.equal((await user.ping()).flags, Flags.RESPONSE, "the logged-in user is still served");
      for (const c of held) c.close();
      // Room again once they are gone.
      for (;;) {
        const c = await TestClient.connect(s.edge.ports.plain);
        const v = await c.version();
        c.close();
        if (v !== null && v.channel === 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      user.close();
    });
  });
});

describe("keepalives", () => {
  test("PING is answered on arrival while a hung service holds the queue full and more requests wait behind it", async () => {
    await withStack({ limits: { requestTimeoutMs: 60_000 } }, async (s) => {
      const seen = fakeService(s.bus, Family.IM, () => undefined); // never answers
      const c = await TestClient.bound(s.edge.ports.plain, "hung", "desk");
      for (let i = 0; i < 45; i++) c.send(Family.IM, ImType.MESSAGE_SEND, tlvBlock(1, 10));
      const seq = c.send(Family.STREAM, StreamType.PING);
      const res = await c.nextTlv();
      assert.equal(res.sequence, seq, "the PING's answer comes first");
      assert.equal(res.flags, Flags.RESPONSE);
      assert.equal(seen.length, 1, "one IM in flight, the rest queued or parked");
      c.close();
    });
  });
});
