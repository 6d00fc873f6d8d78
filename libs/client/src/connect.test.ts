import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inflateSync } from "node:zlib";
import {
  Family,
  Feature,
  Flags,
  GlobalError,
  StreamError,
  StreamTlv,
  StreamType,
  TlvWriter,
} from "@impp/protocol";
import { testCert } from "@impp/test-kit";
import { ClientError, ImppClient, isClientError } from "./index.js";
import { FakeServer } from "./test-support/fake-server.js";

let cert: string;
let plain: FakeServer;
let direct: FakeServer;

before(async () => {
  cert = (await testCert()).cert;
  plain = await FakeServer.start();
  direct = await FakeServer.start({ direct: true });
});
after(async () => {
  await plain.close();
  await direct.close();
});

function opts(server: FakeServer, extra: Partial<Parameters<typeof ImppClient.connect>[0]> = {}) {
  return { host: "127.0.0.1", port: server.port, ca: cert, timeoutMs: 5000, ...extra };
}

const authBlock = new TlvWriter().string(StreamTlv.NAME, "tricia").u64(StreamTlv.TIMESTAMP, 1).finish();

describe("connect, in-band TLS", () => {
  test("version 14, FEATURES_SET{TLS} of exactly 22 bytes at the start sequence, then TLS on the same socket", async () => {
    const clientP = ImppClient.connect(opts(plain, { startSequence: 0x80f72686 }));
    const conn = await plain.accept();
    assert.equal(await conn.expectVersion(), 14);
    conn.sendVersion(14);
    const req = await conn.expectTlv(Family.STREAM, StreamType.FEATURES_SET);
    assert.equal(req.wireSize, 22);
    assert.equal(req.flags, 0);
    assert.equal(req.sequence, 0x80f72686);
    assert.equal(req.tlvs.u16(StreamTlv.FEATURES), Feature.TLS);
    // The exact bytes a real client sends (PROTOCOL.md §5), minus the COMPRESSION bit.
    assert.deepEqual(
      Buffer.concat(conn.bytesIn).subarray(4, 26),
      Buffer.from("6f020000000100018" + "0f72686000000060001000200" + "01", "hex"),
    );
    await conn.grantFeatures(req, Feature.TLS);
    const client = await clientP;
    assert.equal(client.tlsActive, true);
    assert.equal(client.compressionActive, false);

    const authP = client.authenticate("Tricia", "password");
    const auth = await conn.expectTlv(Family.STREAM, StreamType.AUTHENTICATE);
    assert.equal(auth.sequence, 0x80f72687, "sequence goes up by one per request");
    assert.deepEqual(auth.wire, auth.block, "no compression on the wire");
    assert.equal(auth.tlvs.u16(StreamTlv.MECHANISM), 1);
    assert.equal(auth.tlvs.string(StreamTlv.NAME), "Tricia");
    assert.equal(auth.tlvs.string(StreamTlv.PASSWORD), "password");
    conn.reply(auth, authBlock);
    const res = await authP;
    assert.equal(res.isError, false);
    assert.equal(res.flags, Flags.RESPONSE);
    assert.equal(client.account, "tricia");
    await client.close();
    await conn.closed;
    assert.equal(client.closed, true);
  });

  test("compression: blocks are zlib on the wire both ways, an empty block stays size 0", async () => {
    const clientP = ImppClient.connect(
      opts(plain, { compression: true, passwordTlv: StreamTlv.PASSWORD_ALT }),
    );
    const conn = await plain.accept();
    const hs = await conn.handshake();
    assert.equal(hs.requested, Feature.TLS | Feature.COMPRESSION);
    const client = await clientP;
    assert.equal(client.compressionActive, true);

    const authP = client.authenticate("tricia", "password");
    const auth = await conn.expectTlv(Family.STREAM, StreamType.AUTHENTICATE);
    assert.equal(auth.wire[0], 0x78, "a zlib stream header");
    assert.notDeepEqual(auth.wire, auth.block);
    assert.deepEqual(inflateSync(auth.wire), auth.block);
    assert.equal(auth.tlvs.string(StreamTlv.PASSWORD_ALT), "password");
    assert.equal(auth.tlvs.has(StreamTlv.PASSWORD), false);
    conn.reply(auth, authBlock);
    const res = await authP;
    assert.equal(res.compressed, true);
    assert.equal(res.tlvs.string(StreamTlv.NAME), "tricia");

    // PING has an empty block: size 0 on the wire, not a zlib stream of nothing.
    const pingP = client.ping();
    const ping = await conn.expectTlv(Family.STREAM, StreamType.PING);
    assert.equal(ping.wireSize, 16);
    conn.reply(ping); // the fake writes an empty block as size 0 too
    const pong = await pingP;
    assert.equal(pong.block.length, 0);
    assert.equal(pong.compressed, false);
    client.destroy();
  });

  test("compression asked for but not granted: plain blocks", async () => {
    const clientP = ImppClient.connect(opts(plain, { compression: true }));
    const conn = await plain.accept();
    await conn.handshake({ deny: Feature.COMPRESSION });
    const client = await clientP;
    assert.equal(client.tlsActive, true);
    assert.equal(client.compressionActive, false);
    const pingP = client.request(Family.STREAM, StreamType.PING, new TlvWriter().string(9, "x"));
    const ping = await conn.expectTlv(Family.STREAM, StreamType.PING);
    assert.deepEqual(ping.wire, ping.block);
    conn.reply(ping);
    await pingP;
    client.destroy();
  });

  test("a frame the server sends right as TLS comes up is not lost", async () => {
    const clientP = ImppClient.connect(opts(plain, { compression: true }));
    const conn = await plain.accept();
    conn.sendVersion(await conn.expectVersion());
    const req = await conn.expectTlv(Family.STREAM, StreamType.FEATURES_SET);
    await conn.grantFeatures(req, Feature.TLS | Feature.COMPRESSION, (c) =>
      c.indicate(Family.STREAM, 0x77, new TlvWriter().string(1, "hello")),
    );
    const client = await clientP;
    const ind = await client.nextIndication();
    assert.equal(ind.type, 0x77);
    assert.equal(ind.compressed, true);
    assert.equal(ind.tlvs.string(1), "hello");
    client.destroy();
  });

  test("a request sent while the handshake runs goes out inside TLS, compressed", async () => {
    const client0 = await ImppClient.open(opts(plain));
    const conn = await plain.accept();
    const vP = client0.sendVersion();
    conn.sendVersion(await conn.expectVersion());
    assert.equal(await vP, 14);
    const featP = client0.setFeatures(Feature.TLS | Feature.COMPRESSION);
    const req = await conn.expectTlv(Family.STREAM, StreamType.FEATURES_SET);
    const tlsUp = conn.grantFeatures(req, Feature.TLS | Feature.COMPRESSION);
    // In a microtask after the answer's read loop: the handshake has started and cannot be done yet.
    const pingP = new Promise<Promise<unknown>>((resolve) =>
      client0.once("frame", () =>
        queueMicrotask(() =>
          resolve(client0.request(Family.STREAM, StreamType.PING, new TlvWriter().string(1, "early"))),
        ),
      ),
    );
    await tlsUp;
    const res = await featP;
    assert.equal(res.tlvs.u16(StreamTlv.FEATURES), Feature.TLS | Feature.COMPRESSION);
    // The fake only decodes it if it came through TLS, and only as TLVs if it was zlib.
    const pingReq = await conn.expectTlv(Family.STREAM, StreamType.PING);
    assert.equal(pingReq.wire[0], 0x78);
    assert.equal(pingReq.tlvs.string(1), "early");
    conn.reply(pingReq);
    await await pingP;
    client0.destroy();
  });

  test("FEATURES_SET answered with an error: FEATURES_REJECTED carrying the code", async () => {
    const clientP = ImppClient.connect(opts(plain));
    const conn = await plain.accept();
    conn.sendVersion(await conn.expectVersion());
    conn.replyError(await conn.expectTlv(), StreamError.FEATURE_INVALID);
    await assert.rejects(clientP, (e) => isClientError(e, "FEATURES_REJECTED") && e.errorCode === 0x8001);
    await conn.closed;
  });

  test("FEATURES response without the TLS bit: TLS_FAILED", async () => {
    const clientP = ImppClient.connect(opts(plain));
    const conn = await plain.accept();
    await conn.handshake({ deny: Feature.TLS });
    await assert.rejects(clientP, (e) => isClientError(e, "TLS_FAILED"));
  });

  test("a certificate the client does not trust: TLS_FAILED", async () => {
    const clientP = ImppClient.connect({ host: "127.0.0.1", port: plain.port, timeoutMs: 5000 });
    const conn = await plain.accept();
    conn.sendVersion(await conn.expectVersion());
    const req = await conn.expectTlv();
    conn.grantFeatures(req, Feature.TLS).catch(() => {});
    await assert.rejects(clientP, (e) => isClientError(e, "TLS_FAILED"));
  });

  test("version answered with 8 then closed: VERSION_REJECTED", async () => {
    const clientP = ImppClient.connect(opts(plain, { version: 7 }));
    const conn = await plain.accept();
    assert.equal(await conn.expectVersion(), 7);
    conn.sendVersion(8);
    conn.end();
    await assert.rejects(clientP, (e) => isClientError(e, "VERSION_REJECTED"));
  });

  test("nothing listening: CONNECT_FAILED", async () => {
    const s = await FakeServer.start();
    const port = s.port;
    await s.close();
    await assert.rejects(
      ImppClient.connect({ host: "127.0.0.1", port, timeoutMs: 5000 }),
      (e) => e instanceof ClientError && e.kind === "CONNECT_FAILED",
    );
  });
});

describe("connect, TLS first (direct)", () => {
  test("TLS before any IMPP byte; FEATURES_SET acknowledged; compression from the next frame on", async () => {
    const clientP = ImppClient.connect(
      opts(direct, { tls: "direct", compression: true, servername: "localhost" }),
    );
    const conn = await direct.accept();
    assert.equal(conn.tlsActive, true);
    const hs = await conn.handshake();
    assert.equal(hs.requested, Feature.TLS | Feature.COMPRESSION);
    const client = await clientP;
    assert.equal(client.tlsActive, true);
    assert.equal(client.compressionActive, true);
    const pingP = client.request(Family.STREAM, StreamType.PING, new TlvWriter().string(1, "abc"));
    const ping = await conn.expectTlv(Family.STREAM, StreamType.PING);
    assert.equal(ping.wire[0], 0x78);
    assert.deepEqual(inflateSync(ping.wire), ping.block);
    conn.reply(ping, new TlvWriter().u64(StreamTlv.TIMESTAMP, 5));
    assert.equal((await pingP).tlvs.u64(StreamTlv.TIMESTAMP), 5n);
    client.destroy();
  });

  test("a compressed frame in the same write as the FEATURES_SET answer is inflated", async () => {
    const client = await ImppClient.open(opts(direct, { tls: "direct" }));
    const conn = await direct.accept();
    const vP = client.sendVersion(14);
    conn.sendVersion(await conn.expectVersion());
    await vP;
    const featP = client.setFeatures(Feature.TLS | Feature.COMPRESSION);
    const req = await conn.expectTlv();
    const answer = conn.encode(
      { flags: Flags.RESPONSE, family: req.family, type: req.type, sequence: req.sequence },
      new TlvWriter().u16(StreamTlv.FEATURES, Feature.TLS | Feature.COMPRESSION),
    );
    conn.setCompression(true);
    const ind = conn.encode(
      { flags: Flags.INDICATION, family: 5, type: 3, sequence: 0 },
      new TlvWriter().string(1, "zaphod"),
    );
    conn.writeRaw(Buffer.concat([answer, ind]));
    await featP;
    const got = await client.nextIndication();
    assert.equal(got.compressed, true);
    assert.equal(got.tlvs.string(1), "zaphod");
    client.destroy();
  });

  test("bad certificate on the direct listener: TLS_FAILED", async () => {
    await assert.rejects(
      ImppClient.connect({ host: "127.0.0.1", port: direct.port, tls: "direct", timeoutMs: 5000 }),
      (e) => isClientError(e, "TLS_FAILED"),
    );
  });
});

describe("connect, plain (none)", () => {
  test("no FEATURES_SET: the first frame after the version is the caller's", async () => {
    const clientP = ImppClient.connect(opts(plain, { tls: "none", compression: true }));
    const conn = await plain.accept();
    conn.sendVersion(await conn.expectVersion());
    const client = await clientP;
    assert.equal(client.tlsActive, false);
    assert.equal(client.compressionActive, false);
    const authP = client.authenticate("tricia", "pw");
    const auth = await conn.expectTlv();
    assert.equal(auth.type, StreamType.AUTHENTICATE);
    conn.replyError(auth, GlobalError.INVALID_STATE);
    conn.end();
    const res = await authP;
    assert.equal(res.isError, true);
    assert.equal(res.errorCode, GlobalError.INVALID_STATE);
    const info = await client.waitClosed();
    assert.equal(info.initiator, "server");
    assert.equal(info.errorPrecededClose, true);
    assert.equal(info.errorFrame?.errorCode, GlobalError.INVALID_STATE);
  });
});
