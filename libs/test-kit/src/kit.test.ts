import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import tls from "node:tls";
import {
  DeviceTlv,
  deflateBlock,
  encodeError,
  encodeFrame,
  encodeVersion,
  Family,
  Flags,
  FrameDecoder,
  GlobalError,
  ProtocolError,
  StreamTlv,
  StreamType,
  TlvWriter,
} from "@impp/protocol";
import {
  authenticateBlock,
  bindBlock,
  errorCode,
  FrameReader,
  featuresBlock,
  frameBytes,
  frames,
  only,
  TestClient,
  testCert,
  tlvs,
  turns,
} from "./index.js";

describe("blocks and readers", () => {
  test("request blocks read back through frames/only/tlvs", () => {
    const bytes = Buffer.concat([
      frameBytes(0, Family.STREAM, StreamType.AUTHENTICATE, 1, authenticateBlock("tricia")),
      frameBytes(0, Family.DEVICE, 2, 2, bindBlock("laptop", [1, 2])),
      frameBytes(0, Family.STREAM, StreamType.FEATURES_SET, 3, featuresBlock(3)),
    ]);
    const [a, b, f] = frames(bytes);
    assert.equal(a?.sequence, 1);
    assert.equal(tlvs(a).string(StreamTlv.NAME), "tricia");
    assert.equal(tlvs(a).string(StreamTlv.PASSWORD), "pw");
    assert.equal(tlvs(a).u16(StreamTlv.MECHANISM), 1);
    assert.equal(tlvs(b).string(DeviceTlv.DEVICE_NAME), "laptop");
    assert.deepEqual(tlvs(b).u16list(DeviceTlv.CAPABILITIES), [1, 2]);
    assert.equal(tlvs(f).u16(StreamTlv.FEATURES), 3);
    assert.throws(() => only(bytes), /expected one frame, got 3/);
  });

  test("frameBytes is the codec's frame; a TlvWriter is finished for you", () => {
    const w = new TlvWriter().string(1, "x");
    const header = { flags: Flags.INDICATION, family: Family.IM, type: 3, sequence: 9 };
    assert.deepEqual(frameBytes(Flags.INDICATION, Family.IM, 3, 9, w), encodeFrame(header, w.finish()));
    assert.equal(frameBytes(0, Family.STREAM, StreamType.PING, 1).length, 16);
  });

  test("frames refuses version frames, garbage and trailing bytes", () => {
    assert.throws(() => frames(encodeVersion(14)), /unexpected version frame/);
    assert.throws(() => frames(Buffer.from([1, 2, 3, 4])), ProtocolError);
    const ping = frameBytes(0, Family.STREAM, StreamType.PING, 1);
    assert.throws(() => frames(ping.subarray(0, 10)), /10 trailing bytes/);
  });

  test("errorCode reads ERRORCODE of an error frame and nothing else", () => {
    const extra = new TlvWriter().string(StreamTlv.NAME, "n").finish();
    const e = only(encodeError(Family.IM, 1, 5, GlobalError.INVALID_TLV_LENGTH, extra));
    assert.equal(errorCode(e), GlobalError.INVALID_TLV_LENGTH);
    assert.throws(() => errorCode(only(frameBytes(Flags.RESPONSE, 1, 3, 1))), /not an error frame/);
    assert.throws(() => errorCode(only(frameBytes(Flags.ERROR, 1, 3, 1))), /without ERRORCODE/);
    assert.throws(() => errorCode(null), /expected a TLV frame/);
    assert.throws(() => tlvs({ channel: 1, version: 14 }), /expected a TLV frame/);
  });
});

describe("FrameReader", () => {
  test("frames trickling in byte by byte, version and TLV", () => {
    const r = new FrameReader();
    const bytes = Buffer.concat([encodeVersion(14), frameBytes(Flags.RESPONSE, 1, 3, 7, featuresBlock(1))]);
    const got = [];
    for (const byte of bytes) {
      r.push(Buffer.from([byte]));
      for (let f = r.next(); f !== null; f = r.next()) got.push(f);
    }
    assert.equal(got.length, 2);
    assert.deepEqual(got[0], { channel: 1, version: 14 });
    const f = got[1];
    assert.ok(f !== undefined && !(f instanceof ProtocolError) && f.channel === 2);
    assert.equal(f.sequence, 7);
    assert.deepEqual(f.wire, f.block);
  });

  test("with compression on, block is inflated and wire is kept", () => {
    const r = new FrameReader();
    r.compression = true;
    const block = featuresBlock(3);
    r.push(frameBytes(Flags.RESPONSE, 1, 1, 1, deflateBlock(block)));
    r.push(Buffer.from(frameBytes(Flags.RESPONSE, 1, 1, 2, Buffer.from([1, 2, 3]))));
    const f = r.next();
    assert.ok(f !== null && !(f instanceof ProtocolError) && f.channel === 2);
    assert.deepEqual(f.block, block);
    assert.deepEqual(f.wire, deflateBlock(block));
    const bad = r.next();
    assert.ok(bad instanceof ProtocolError && bad.kind === "INFLATE_FAILED");
    assert.equal(r.next(), null);
  });

  test("bytes that are not IMPP: a fatal error", () => {
    const r = new FrameReader();
    r.push(Buffer.from("HTTP/1.1 400 Bad Request\r\n"));
    const e = r.next();
    assert.ok(e instanceof ProtocolError && e.fatal);
  });
});

test("testCert: one certificate, valid for 127.0.0.1 when given as the CA", async () => {
  const c = await testCert();
  assert.equal(await testCert(), c);
  const server = tls.createServer({ key: c.key, cert: c.cert }, (s) => s.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const got = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, ca: c.cert }, () =>
        s.once("data", (d) => resolve(String(d))),
      );
      s.once("error", reject);
    });
    assert.equal(got, "ok");
  } finally {
    server.close();
  }
});

test("turns: lets setImmediate callbacks run", async () => {
  let ran = false;
  setImmediate(() => {
    ran = true;
  });
  await turns(1);
  assert.equal(ran, true);
});

describe("TestClient against a scripted peer", () => {
  /** Echoes the version, answers PING with TIMESTAMP 5; on sequence 99 writes garbage instead. */
  async function peer(): Promise<{ port: number; close(): void }> {
    const server = net.createServer((s) => {
      const d = new FrameDecoder();
      s.on("data", (chunk: Buffer) => {
        d.push(chunk);
        for (let f = d.next(); f !== null; f = d.next()) {
          if (f instanceof ProtocolError) return s.destroy();
          if (f.channel === 1) s.write(encodeVersion(f.version));
          else if (f.sequence === 99) s.write("not impp");
          else if (f.type === StreamType.PING)
            s.write(
              new TlvWriter()
                .u64(StreamTlv.TIMESTAMP, 5)
                .frame({ flags: Flags.RESPONSE, family: f.family, type: f.type, sequence: f.sequence }),
            );
          else s.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
  }

  test("version, request/answer by sequence, close", async () => {
    const p = await peer();
    try {
      const c = await TestClient.connect(p.port);
      assert.deepEqual(await c.version(14), { channel: 1, version: 14 });
      const pong = await c.ping();
      assert.equal(pong.flags, Flags.RESPONSE);
      assert.equal(pong.sequence, c.seq);
      assert.equal(tlvs(pong).u64(StreamTlv.TIMESTAMP), 5n);
      c.send(Family.IM, 1);
      await c.expectClose();
      await c.closed;
      assert.equal(c.garbage, undefined);
    } finally {
      p.close();
    }
  });

  test("bytes that are not IMPP: garbage is set and the client closes", async () => {
    const p = await peer();
    try {
      const c = await TestClient.connect(p.port);
      c.send(Family.STREAM, StreamType.PING, undefined, 0, 99);
      await c.expectClose();
      assert.ok(c.garbage instanceof ProtocolError);
    } finally {
      p.close();
    }
  });
});
