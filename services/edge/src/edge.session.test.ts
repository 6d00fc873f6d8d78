// Integration: version exchange, FEATURES_SET, in-band and TLS-first TLS, the state machine —
// over real sockets on 127.0.0.1 with the in-process bus and session store.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  DeviceType,
  Family,
  Feature,
  Flags,
  GlobalError,
  ImType,
  StreamError,
  StreamTlv,
  StreamType,
} from "@impp/protocol";
import {
  authenticateBlock,
  bindBlock,
  errorCode,
  featuresBlock,
  frameBytes,
  TestClient,
  tlvs,
} from "@impp/test-kit";
import { fakeAuth, fakeDevice, pipelinedTlsClient, type Stack, startStack } from "./test-support.js";

let stack: Stack;
before(async () => {
  stack = await startStack();
  fakeAuth(stack.bus);
  fakeDevice(stack.bus);
});
after(() => stack.stop());

describe("version exchange (§2.1)", () => {
  test("a client version >= 8 is echoed", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    assert.deepEqual(await c.version(14), { channel: 1, version: 14 });
    c.close();
  });

  test("a version < 8 gets 6f 01 00 08 and the connection closes", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    assert.deepEqual(await c.version(7), { channel: 1, version: 8 });
    await c.expectClose();
  });

  test("a later version message is ignored", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version(14);
    c.write(Buffer.from([0x6f, 0x01, 0x00, 0x03]));
    const pong = await c.ping();
    assert.equal(pong.flags, Flags.RESPONSE);
    c.close();
  });
});

describe("before TLS (§1)", () => {
  test("PING is answered with a u64 TIMESTAMP", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version();
    const before = Date.now();
    const pong = await c.ping();
    assert.deepEqual([pong.flags, pong.family, pong.type], [Flags.RESPONSE, Family.STREAM, StreamType.PING]);
    const ts = tlvs(pong).u64number(StreamTlv.TIMESTAMP);
    assert.equal(typeof ts, "number");
    assert.ok((ts as number) >= before - 1000);
    c.close();
  });

  test("anything else gets a global INVALID_STATE and the connection closes", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version();
    const seq = c.send(Family.STREAM, StreamType.AUTHENTICATE, authenticateBlock("tricia"));
    const e = await c.nextTlv();
    assert.equal(errorCode(e), GlobalError.INVALID_STATE);
    assert.deepEqual(
      [e.flags, e.family, e.type, e.sequence],
      [Flags.ERROR, Family.STREAM, StreamType.AUTHENTICATE, seq],
    );
    await c.expectClose();
  });
});

describe("FEATURES_SET (§4.1)", () => {
  test("the response is exactly the header and one FEATURES TLV; TLS then runs on the same socket", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version();
    const res = await c.startTls(Feature.TLS | Feature.COMPRESSION);
    assert.deepEqual(
      [res.flags, res.family, res.type],
      [Flags.RESPONSE, Family.STREAM, StreamType.FEATURES_SET],
    );
    assert.deepEqual(res.wire, Buffer.from([0, 1, 0, 2, 0, 3]));
    const pong = await c.ping();
    assert.equal(pong.flags, Flags.RESPONSE);
    c.close();
  });

  test("unknown bits and a missing TLS bit are FEATURE_INVALID; the client may retry", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version();
    const bad = await c.request(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(Feature.TLS | 0x10));
    assert.equal(errorCode(bad), StreamError.FEATURE_INVALID);
    const noTls = await c.request(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(Feature.COMPRESSION));
    assert.equal(errorCode(noTls), StreamError.FEATURE_INVALID);
    const ok = await c.startTls(Feature.TLS);
    assert.deepEqual(ok.wire, Buffer.from([0, 1, 0, 2, 0, 1]));
    await c.ping();
    c.close();
  });

  test("a second FEATURES_SET is INVALID_STATE and the session goes on", async () => {
    const c = await TestClient.open(stack.edge.ports.plain);
    const again = await c.request(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(Feature.TLS));
    assert.equal(errorCode(again), GlobalError.INVALID_STATE);
    await c.login("arthur", "laptop", [1]);
    c.close();
  });

  test("a pipelining client's ClientHello, sent in the same write as FEATURES_SET, is not lost", async () => {
    const { secure, plainAnswers } = await pipelinedTlsClient(stack.edge.ports.plain, Feature.TLS);
    assert.deepEqual(plainAnswers.subarray(0, 4), Buffer.from([0x6f, 0x01, 0x00, 0x0e]));
    assert.deepEqual(plainAnswers.subarray(20), Buffer.from([0, 1, 0, 2, 0, 1]));
    const got = new Promise<Buffer>((r) => secure.once("data", r));
    secure.write(frameBytes(0, Family.STREAM, StreamType.PING, 5, Buffer.alloc(0)));
    const pong = await got;
    assert.deepEqual([...pong.subarray(0, 12)], [0x6f, 2, 0, 1, 0, 1, 0, 3, 0, 0, 0, 5]);
    secure.destroy();
  });
});

describe("state machine after TLS", () => {
  test("before login only AUTHENTICATE and PING; before bind only BIND and PING; the session goes on", async () => {
    const c = await TestClient.open(stack.edge.ports.plain);
    assert.equal(
      errorCode(await c.request(Family.DEVICE, DeviceType.BIND, bindBlock("d", [1]))),
      GlobalError.INVALID_STATE,
    );
    assert.equal(errorCode(await c.request(Family.IM, ImType.MESSAGE_SEND)), GlobalError.INVALID_STATE);
    await c.ping();
    const auth = await c.request(Family.STREAM, StreamType.AUTHENTICATE, authenticateBlock("ford"));
    assert.equal(auth.flags, Flags.RESPONSE);
    assert.equal(errorCode(await c.request(Family.IM, ImType.MESSAGE_SEND)), GlobalError.INVALID_STATE);
    assert.equal(
      errorCode(await c.request(Family.STREAM, StreamType.AUTHENTICATE, authenticateBlock("ford"))),
      GlobalError.INVALID_STATE,
    );
    await c.ping();
    const bind = await c.request(Family.DEVICE, DeviceType.BIND, bindBlock("towel", [1]));
    assert.equal(bind.flags, Flags.RESPONSE);
    assert.equal(
      errorCode(await c.request(Family.DEVICE, DeviceType.BIND, bindBlock("towel", [1]))),
      GlobalError.INVALID_STATE,
    );
    c.close();
  });
});

describe("TLS-first listener", () => {
  test("TLS before any IMPP byte; FEATURES_SET's TLS bit acknowledged; compression from the next message", async () => {
    const port = stack.edge.ports.tls;
    assert.ok(port !== undefined);
    const c = await TestClient.connectTls(port);
    assert.deepEqual(await c.version(14), { channel: 1, version: 14 });
    const res = await c.startTls(Feature.TLS | Feature.COMPRESSION);
    assert.deepEqual(res.wire, Buffer.from([0, 1, 0, 2, 0, 3]));
    assert.equal(c.compression, true);
    // Compressed both ways from here: the edge inflates our AUTHENTICATE, we inflate its answers.
    await c.login("zaphod", "heart-of-gold", [1, 2]);
    const pong = await c.ping();
    assert.notDeepEqual(pong.wire, pong.block);
    assert.equal(typeof tlvs(pong).u64number(StreamTlv.TIMESTAMP), "number");
    c.close();
  });

  test("without FEATURES_SET the session works uncompressed", async () => {
    const c = await TestClient.connectTls(stack.edge.ports.tls!);
    await c.version();
    await c.login("marvin", "brain", [1]);
    c.close();
  });
});

describe("server settings and hostile handshakes", () => {
  test("with compression off in config, FEATURES_SET leaves the bit out and the session stays uncompressed", async () => {
    const s = await startStack({ compression: false });
    fakeAuth(s.bus);
    fakeDevice(s.bus);
    const c = await TestClient.connect(s.edge.ports.plain);
    await c.version();
    const res = await c.startTls(Feature.TLS | Feature.COMPRESSION);
    assert.deepEqual(res.wire, Buffer.from([0, 1, 0, 2, 0, 1]));
    assert.equal(c.compression, false);
    await c.login("plain", "text", [1]);
    const pong = await c.ping();
    assert.deepEqual(pong.wire, pong.block);
    c.close();
    await s.stop();
  });

  test("bytes that are not a TLS handshake after FEATURES_SET close that connection only", async () => {
    const other = await TestClient.open(stack.edge.ports.plain);
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version();
    const res = await c.request(Family.STREAM, StreamType.FEATURES_SET, featuresBlock(Feature.TLS));
    assert.equal(res.flags, Flags.RESPONSE);
    c.write(frameBytes(0, Family.STREAM, StreamType.PING, 1, Buffer.alloc(0)));
    c.write(Buffer.alloc(300, 0x41));
    await c.closed;
    await other.ping();
    other.close();
  });
});
