import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Capability,
  DeviceTlv,
  Family,
  Flags,
  GlobalError,
  ImTlv,
  ImType,
  ListsTlv,
  ListsType,
  PresenceTlv,
  PresenceType,
  StreamError,
  StreamTlv,
  StreamType,
  TlvWriter,
} from "@impp/protocol";
import { testCert } from "@impp/test-kit";
import { connectAndLogin, ImppClient, isClientError, type ResponseFrame } from "./index.js";
import { type FakeConn, FakeServer } from "./test-support/fake-server.js";

let cert: string;
let server: FakeServer;

before(async () => {
  cert = (await testCert()).cert;
  server = await FakeServer.start();
});
after(() => server.close());

/** A client through version + FEATURES_SET + TLS (+ compression), and its server side. */
async function pair(
  extra: { compression?: boolean; timeoutMs?: number; startSequence?: number } = {},
): Promise<{ client: ImppClient; conn: FakeConn }> {
  const clientP = ImppClient.connect({
    host: "127.0.0.1",
    port: server.port,
    ca: cert,
    timeoutMs: 5000,
    ...extra,
  });
  const conn = await server.accept();
  await conn.handshake();
  return { client: await clientP, conn };
}

const isPresence = (f: ResponseFrame) => f.family === Family.PRESENCE;

for (const compression of [false, true]) {
  describe(`session (compression ${compression ? "on" : "off"})`, () => {
    test("responses matched by sequence when they come back out of order across families", async () => {
      const { client, conn } = await pair({ compression, startSequence: 0xffff_fffe });
      const addP = client.request(
        Family.LISTS,
        ListsType.CONTACT_ADD,
        new TlvWriter().string(ListsTlv.CONTACT_ADDRESS, "zaphod"),
      );
      const setP = client.request(
        Family.PRESENCE,
        PresenceType.SET,
        new TlvWriter().u16(PresenceTlv.STATUS, 2),
      );
      const pingP = client.ping();
      const add = await conn.expectTlv(Family.LISTS, ListsType.CONTACT_ADD);
      const set = await conn.expectTlv(Family.PRESENCE, PresenceType.SET);
      const ping = await conn.expectTlv(Family.STREAM, StreamType.PING);
      // One per request across families; the wrap from 0xffffffff skips 0 (the indications' sequence).
      // The FEATURES_SET took 0xfffffffe.
      assert.deepEqual([add.sequence, set.sequence, ping.sequence], [0xffff_ffff, 1, 2]);

      // An indication with sequence 0 in between must not be taken for an answer.
      conn.indicate(Family.PRESENCE, PresenceType.UPDATE, new TlvWriter().string(PresenceTlv.FROM, "ford"));
      conn.reply(ping, new TlvWriter().u64(StreamTlv.TIMESTAMP, 42));
      conn.replyError(set, GlobalError.INVALID_TLV_VALUE);
      conn.reply(add, new TlvWriter().string(ListsTlv.CONTACT_ADDRESS, "zaphod"));
      const [a, s, p] = await Promise.all([addP, setP, pingP]);
      assert.equal(a.family, Family.LISTS);
      assert.equal(a.isError, false);
      assert.equal(a.tlvs.string(ListsTlv.CONTACT_ADDRESS), "zaphod");
      assert.equal(s.family, Family.PRESENCE);
      assert.equal(s.isError, true);
      assert.equal(s.flags, Flags.ERROR);
      assert.equal(s.errorCode, GlobalError.INVALID_TLV_VALUE);
      assert.equal(p.tlvs.u64(StreamTlv.TIMESTAMP), 42n);
      const ind = client.drainIndications();
      assert.equal(ind.length, 1);
      assert.equal(ind[0]!.sequence, 0);
      assert.equal(ind[0]!.tlvs.string(PresenceTlv.FROM), "ford");
      client.destroy();
    });

    test("indications: buffered ones count, a predicate picks one and leaves the rest, the stream ends on close", async () => {
      const { client, conn } = await pair({ compression });
      conn.indicate(Family.IM, ImType.MESSAGE_SEND, new TlvWriter().string(ImTlv.FROM, "arthur"));
      conn.indicate(Family.PRESENCE, PresenceType.UPDATE, new TlvWriter().string(PresenceTlv.FROM, "ford"));
      // A round trip: both indications were read before the answer.
      const pingP = client.ping();
      conn.reply(await conn.expectTlv());
      await pingP;
      const presence = await client.nextIndication(isPresence);
      assert.equal(presence.tlvs.string(PresenceTlv.FROM), "ford");
      // Waiting for one that has not arrived yet.
      const laterP = client.nextIndication(isPresence);
      conn.indicate(
        Family.PRESENCE,
        PresenceType.UPDATE,
        new TlvWriter().string(PresenceTlv.FROM, "trillian"),
      );
      assert.equal((await laterP).tlvs.string(PresenceTlv.FROM), "trillian");
      // The IM one is still there, for the stream.
      const seen: string[] = [];
      const doneP = (async () => {
        for await (const f of client.indications) seen.push(f.tlvs.string(1) as string);
      })();
      conn.indicate(Family.IM, ImType.MESSAGE_SEND, new TlvWriter().string(ImTlv.FROM, "marvin"));
      const pingP2 = client.ping();
      conn.reply(await conn.expectTlv());
      await pingP2;
      conn.end();
      await doneP;
      assert.deepEqual(seen, ["arthur", "marvin"]);
      await assert.rejects(client.nextIndication(), (e) => isClientError(e, "CLOSED"));
    });

    test("bind, sendIm and sendTyping encode what the server needs", async () => {
      const { client, conn } = await pair({ compression });
      const bindP = client.bind({
        deviceName: "laptop",
        isMobile: true,
        statusMessage: "hi",
        client: { build: "7" },
      });
      const bind = await conn.expectTlv(Family.DEVICE, 1);
      const t = bind.tlvs;
      assert.equal(t.string(DeviceTlv.DEVICE_NAME), "laptop");
      assert.deepEqual(t.u16list(DeviceTlv.CAPABILITIES), [Capability.IM, Capability.TYPING]);
      assert.equal(t.u16(DeviceTlv.STATUS), 1);
      assert.equal(t.string(DeviceTlv.STATUS_MESSAGE), "hi");
      assert.equal(t.u8(DeviceTlv.IS_MOBILE), 1);
      assert.equal(t.u8(DeviceTlv.IS_IDLE), 0);
      assert.equal(t.string(DeviceTlv.CLIENT_NAME), "impp-client");
      assert.equal(t.string(DeviceTlv.CLIENT_BUILD), "7");
      conn.reply(bind, new TlvWriter().string(DeviceTlv.DEVICE_NAME, "laptop-2"));
      await bindP;
      assert.equal(client.deviceName, "laptop-2");

      const id = Buffer.from([1, 2, 3, 4]);
      const imP = client.sendIm("zaphod", "héllo", { messageId: id, createdAt: 1234n });
      const im = await conn.expectTlv(Family.IM, ImType.MESSAGE_SEND);
      assert.equal(im.tlvs.string(ImTlv.TO), "zaphod");
      assert.equal(im.tlvs.u16(ImTlv.CAPABILITY), Capability.IM);
      assert.deepEqual(im.tlvs.first(ImTlv.MESSAGE_ID), id);
      assert.equal(im.tlvs.u32(ImTlv.MESSAGE_SIZE), 6);
      assert.equal(im.tlvs.string(ImTlv.MESSAGE_CHUNK), "héllo");
      assert.equal(im.tlvs.u64(ImTlv.CREATED_AT), 1234n);
      conn.reply(im, new TlvWriter().bytes(ImTlv.MESSAGE_ID, id).u64(ImTlv.TIMESTAMP, 9));
      assert.equal((await imP).tlvs.u64(ImTlv.TIMESTAMP), 9n);

      const typingP = client.sendTyping("zaphod", true);
      const typing = await conn.expectTlv(Family.IM, ImType.MESSAGE_SEND);
      assert.equal(typing.tlvs.u16(ImTlv.CAPABILITY), Capability.TYPING);
      assert.equal(typing.tlvs.u16(ImTlv.MESSAGE_CHUNK), 2);
      assert.equal(typing.tlvs.first(ImTlv.MESSAGE_ID)?.length, 4);
      conn.reply(typing);
      await typingP;
      client.destroy();
    });
  });
}

describe("requests", () => {
  test("extension family requests carry the extension bit; explicit flags and sequence go out as given", async () => {
    const { client, conn } = await pair();
    const extP = client.request(0x4001, 1);
    const ext = await conn.expectTlv(0x4001, 1);
    assert.equal(ext.flags, Flags.EXTENSION);
    conn.send(
      { flags: Flags.ERROR | Flags.EXTENSION, family: 0x4001, type: 1, sequence: ext.sequence },
      new TlvWriter().u16(0, 4),
    );
    assert.equal((await extP).errorCode, GlobalError.INVALID_TLV_FAMILY);

    const seq = client.send(Family.STREAM, StreamType.PING, undefined, {
      flags: Flags.RESPONSE,
      sequence: 77,
    });
    assert.equal(seq, 77);
    const raw = await conn.expectTlv(Family.STREAM, StreamType.PING);
    assert.equal(raw.flags, Flags.RESPONSE);
    assert.equal(raw.sequence, 77);
    // The answer to a fire-and-forget request is kept as unsolicited.
    conn.reply(raw);
    const pingP = client.ping();
    conn.reply(await conn.expectTlv());
    await pingP;
    const un = client.drainUnsolicited();
    assert.equal(un.length, 1);
    assert.equal(un[0]!.sequence, 77);
    client.destroy();
  });

  test("timeouts: a request, an indication wait and waitClosed each reject TIMEOUT; a late answer is unsolicited", async () => {
    const { client, conn } = await pair({ timeoutMs: 50 });
    const pingP = client.ping();
    const ping = await conn.expectTlv();
    await assert.rejects(pingP, (e) => isClientError(e, "TIMEOUT"));
    await assert.rejects(client.nextIndication(), (e) => isClientError(e, "TIMEOUT"));
    await assert.rejects(client.waitClosed(), (e) => isClientError(e, "TIMEOUT"));
    conn.reply(ping);
    // The connection still works after the timeouts.
    const p2 = client.request(Family.STREAM, StreamType.PING, undefined, { timeoutMs: 5000 });
    conn.reply(await conn.expectTlv());
    await p2;
    assert.equal(client.drainUnsolicited()[0]?.sequence, ping.sequence);
    client.destroy();
  });

  test("server closes with requests outstanding: they reject CLOSED, waitClosed reports the error that came first", async () => {
    const { client, conn } = await pair();
    const pingP = client.ping();
    await conn.expectTlv();
    const closedP = client.waitClosed();
    conn.send(
      { flags: Flags.ERROR, family: Family.STREAM, type: 0, sequence: 0 },
      new TlvWriter().u16(0, GlobalError.INVALID_STATE),
    );
    conn.end();
    await assert.rejects(pingP, (e) => isClientError(e, "CLOSED"));
    const info = await closedP;
    assert.equal(info.initiator, "server");
    assert.equal(info.cause, undefined);
    assert.equal(info.errorPrecededClose, true);
    assert.equal(info.errorFrame?.errorCode, GlobalError.INVALID_STATE);
    assert.equal(client.closed, true);
    assert.throws(
      () => client.send(Family.STREAM, StreamType.PING),
      (e) => isClientError(e, "CLOSED"),
    );
    await assert.rejects(client.ping(), (e) => isClientError(e, "CLOSED"));
  });

  test("close() by the client: initiator client, later requests reject CLOSED", async () => {
    const { client, conn } = await pair();
    const closeP = client.close();
    await conn.closed;
    await closeP;
    const info = await client.waitClosed();
    assert.equal(info.initiator, "client");
    assert.equal(info.errorPrecededClose, false);
  });
});

describe("hostile server", () => {
  const garbage: Array<[string, (c: FakeConn) => void]> = [
    ["a bad start byte", (c) => c.writeRaw(Buffer.from("GET / HTTP/1.1\r\n\r\n"))],
    ["an unknown channel", (c) => c.writeRaw(Buffer.from([0x6f, 0x09, 0, 0]))],
    [
      "a block size over the limit",
      (c) => c.writeRaw(Buffer.from("6f020001000100010000000101000001", "hex")),
    ],
    [
      "a TLV overrunning its block",
      (c) => c.writeRaw(Buffer.from("6f0200010001000300000000000000060001000900aa", "hex")),
    ],
  ];
  for (const [what, send] of garbage) {
    test(`${what}: the client closes with PROTOCOL, nothing thrown`, async () => {
      const clientP = ImppClient.connect({
        host: "127.0.0.1",
        port: server.port,
        ca: cert,
        timeoutMs: 5000,
        maxBlockSize: 0x100_0000,
      });
      const conn = await server.accept();
      await conn.handshake();
      const client = await clientP;
      const errors: unknown[] = [];
      client.on("error", (e) => errors.push(e));
      const pingP = client.ping();
      await conn.expectTlv();
      send(conn);
      await assert.rejects(pingP, (e) => isClientError(e, "PROTOCOL"));
      const info = await client.waitClosed();
      assert.equal(info.initiator, "client");
      assert.equal(info.cause?.kind, "PROTOCOL");
      assert.equal(errors.length, 1);
      await conn.closed;
    });
  }

  test("a block that is not a zlib stream under compression: PROTOCOL", async () => {
    const { client, conn } = await pair({ compression: true });
    const pingP = client.ping();
    const ping = await conn.expectTlv();
    conn.setCompression(false);
    conn.reply(ping, new TlvWriter().u64(StreamTlv.TIMESTAMP, 1)); // plain TLVs where zlib is due
    await assert.rejects(pingP, (e) => isClientError(e, "PROTOCOL"));
    assert.equal((await client.waitClosed()).cause?.kind, "PROTOCOL");
  });

  test("garbage before the version answer: connect rejects PROTOCOL", async () => {
    const clientP = ImppClient.connect({ host: "127.0.0.1", port: server.port, ca: cert, timeoutMs: 5000 });
    const conn = await server.accept();
    await conn.expectVersion();
    conn.writeRaw(Buffer.from([0x00, 0x01, 0x02]));
    await assert.rejects(clientP, (e) => isClientError(e, "PROTOCOL"));
  });
});

describe("step by step", () => {
  test("open() sends nothing; writeRaw bytes go out as they are, inside TLS and uncompressed", async () => {
    const client = await ImppClient.open({ host: "127.0.0.1", port: server.port, ca: cert, timeoutMs: 5000 });
    const conn = await server.accept();
    const vP = client.sendVersion(9);
    assert.equal(await conn.expectVersion(), 9);
    conn.sendVersion(9);
    assert.equal(await vP, 9);
    const fP = client.setFeatures(3);
    await conn.grantFeatures(await conn.expectTlv(), 3);
    await fP;
    assert.equal(client.compressionActive, true);
    const before = Buffer.concat(conn.bytesIn).length;
    client.writeRaw(Buffer.from("6f020000000100030000000500000000", "hex"));
    const ping = await conn.expectTlv(Family.STREAM, StreamType.PING);
    assert.equal(ping.sequence, 5);
    assert.deepEqual(
      Buffer.concat(conn.bytesIn).subarray(before),
      Buffer.from("6f020000000100030000000500000000", "hex"),
    );
    client.destroy();
    await conn.closed;
  });

  test("connectAndLogin: AUTHENTICATE then BIND; an error answer rejects AUTH_FAILED", async () => {
    const okP = connectAndLogin({
      host: "127.0.0.1",
      port: server.port,
      ca: cert,
      name: "tricia",
      password: "pw",
      deviceName: "d1",
    });
    const conn = await server.accept();
    await conn.handshake();
    const auth = await conn.expectTlv(Family.STREAM, StreamType.AUTHENTICATE);
    conn.reply(auth, new TlvWriter().string(StreamTlv.NAME, "tricia"));
    const bind = await conn.expectTlv(Family.DEVICE, 1);
    assert.equal(bind.tlvs.string(DeviceTlv.DEVICE_NAME), "d1");
    conn.reply(bind, new TlvWriter().string(DeviceTlv.DEVICE_NAME, "d1"));
    const client = await okP;
    assert.equal(client.account, "tricia");
    assert.equal(client.deviceName, "d1");
    client.destroy();

    const badP = connectAndLogin({
      host: "127.0.0.1",
      port: server.port,
      ca: cert,
      name: "tricia",
      password: "no",
    });
    const conn2 = await server.accept();
    await conn2.handshake();
    conn2.replyError(await conn2.expectTlv(), StreamError.AUTHENTICATION_INVALID);
    await assert.rejects(
      badP,
      (e) => isClientError(e, "AUTH_FAILED") && e.errorCode === StreamError.AUTHENTICATION_INVALID,
    );
    await conn2.closed;
  });
});

describe("pause/resume", () => {
  test("a paused client stops reading: the server's output backs up until resume", async () => {
    const { client, conn } = await pair();
    let received = 0;
    const total = 4000;
    let allIn: () => void = () => {};
    const allInP = new Promise<void>((r) => {
      allIn = r;
    });
    client.on("frame", () => {
      if (++received === total) allIn();
    });
    client.pause();
    const block = new TlvWriter().bytes(1, Buffer.alloc(1000, 0x61)).finish();
    for (let i = 0; i < total; i++) conn.indicate(Family.PRESENCE, PresenceType.UPDATE, block);
    // Give a reader that ignored pause() every chance to read it all; a correct one reads nothing.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(conn.socket.writableLength > 0, "server output is backed up");
    assert.ok(received < total, `read ${received} of ${total} while paused`);
    client.resume();
    await allInP;
    assert.equal(client.drainIndications().length, total);
    client.destroy();
  });
});
