// The end-to-end suite: the real client library against a whole running server
// over real TLS. The same tests run embedded (one process) and distributed
// (services + two edges on NATS, Redis and PostgreSQL, users on different edges).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  befriend,
  type ConnectOptions,
  connectAndLogin,
  ImppClient,
  imSendBlock,
  type ResponseFrame,
} from "@impp/client";
import {
  Capability,
  DeviceError,
  DeviceTlv,
  DeviceType,
  deflateBlock,
  encodeFrame,
  Family,
  Flags,
  GlobalError,
  ImError,
  ImTlv,
  ImType,
  isProtocolError,
  Status,
  StreamError,
  StreamTlv,
  StreamType,
  TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import { type Cluster, type ClusterMode, isMultiProcess, startCluster } from "../testing/cluster.js";

/** Settings every cluster of this suite runs with: short timers so the tests stay quick. */
export const E2E_ENV: Record<string, string> = {
  IMPP_IDLE_TIMEOUT_MS: "5000",
  IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT: "3",
  IMPP_LOGIN_ATTEMPTS_PER_ADDRESS: "1000",
  IMPP_EDGE_HEARTBEAT_MS: "300",
  IMPP_EDGE_TTL_MS: "1500",
  IMPP_MAX_DEVICES: "4",
  IMPP_REQUEST_TIMEOUT_MS: "5000",
};

const PASSWORD = "correct horse battery staple";

export function endToEndSuite(mode: ClusterMode): void {
  describe(`end to end (${mode})`, () => {
    let cluster: Cluster;
    const clients: ImppClient[] = [];

    before(async () => {
      cluster = await startCluster({ mode, env: E2E_ENV, ...(isMultiProcess(mode) ? { edges: 2 } : {}) });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await cluster?.stop();
    });

    /** A new account name, unique to this run. */
    const newUser = async (prefix: string): Promise<string> => {
      const name = `${prefix}${randomBytes(4).toString("hex")}`;
      await cluster.addUser(name, PASSWORD);
      return name;
    };
    const edge = (i: number) => cluster.edges[i % cluster.edges.length]!;
    const options = (i: number, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
      host: edge(i).host,
      port: edge(i).port,
      rejectUnauthorized: false,
      timeoutMs: 8000,
      ...extra,
    });
    const track = (c: ImppClient) => {
      clients.push(c);
      return c;
    };
    const login = async (
      name: string,
      edgeIndex: number,
      extra: Partial<ConnectOptions> & { deviceName?: string; capabilities?: number[] } = {},
    ) => track(await connectAndLogin({ ...options(edgeIndex, extra), name, password: PASSWORD }));
    const open = async (edgeIndex: number, extra: Partial<ConnectOptions> = {}) =>
      track(await ImppClient.connect(options(edgeIndex, extra)));

    for (const compression of [false, true]) {
      const label = compression ? "with compression" : "without compression";

      test(`login answers the canonical name and the server clock (${label})`, async () => {
        const name = await newUser("Login");
        const c = await open(0, { compression });
        assert.equal(c.tlsActive, true);
        assert.equal(c.compressionActive, compression);
        const res = await c.authenticate(name.toUpperCase(), PASSWORD);
        assert.equal(res.isError, false);
        assert.equal(str(res.tlvs, StreamTlv.NAME), name.toLowerCase());
        const ts = Number(u64(res.tlvs, StreamTlv.TIMESTAMP));
        assert.ok(Math.abs(ts - Date.now()) < 60_000, `server clock ${ts} is far from ours`);
        const ping = await c.ping();
        assert.equal(ping.isError, false);
        assert.equal(ping.tlvs.has(StreamTlv.TIMESTAMP), true);
      });

      test(`two devices of one user see each other's BIND, UPDATE and UNBIND (${label})`, async () => {
        const name = await newUser("dev");
        const a = await login(name, 0, { compression, deviceName: "desk" });
        const b = await track(await ImppClient.connect(options(1, { compression })));
        assert.equal((await b.authenticate(name, PASSWORD)).isError, false);
        const bound = await b.bind({ deviceName: "phone", capabilities: [Capability.IM], isMobile: true });
        assert.equal(bound.isError, false);
        assert.equal(str(bound.tlvs, DeviceTlv.DEVICE_NAME), "phone");
        assert.ok(bound.tlvs.has(DeviceTlv.SERVER), "BIND answers the SERVER it is bound to");
        const tuples = tupleNames(bound);
        assert.deepEqual(tuples.sort(), ["desk", "phone"]);

        const seen = await a.nextIndication(
          (f) => f.family === Family.DEVICE && f.type === DeviceType.UPDATE,
        );
        const tuple = nested(seen.tlvs, DeviceTlv.DEVICE_TUPLE);
        assert.equal(str(tuple, DeviceTlv.DEVICE_NAME), "phone");
        assert.equal(u8(tuple, DeviceTlv.IS_MOBILE), 1);

        const upd = await b.request(
          Family.DEVICE,
          DeviceType.UPDATE,
          new TlvWriter().u16(DeviceTlv.STATUS, Status.AWAY),
        );
        assert.equal(upd.isError, false);
        const changed = await a.nextIndication(
          (f) => f.family === Family.DEVICE && f.type === DeviceType.UPDATE,
        );
        const t2 = nested(changed.tlvs, DeviceTlv.DEVICE_TUPLE);
        assert.equal(str(t2, DeviceTlv.DEVICE_NAME), "phone");
        assert.equal(u16(t2, DeviceTlv.STATUS), Status.AWAY);

        const unbind = await b.request(Family.DEVICE, DeviceType.UNBIND);
        assert.equal(unbind.isError, false);
        await b.waitClosed();
        const gone = await a.nextIndication(
          (f) => f.family === Family.DEVICE && f.type === DeviceType.UNBIND,
        );
        assert.equal(str(gone.tlvs, DeviceTlv.DEVICE_NAME), "phone");
      });

      test(`IM between two users reaches the recipient and the sender's other device (${label})`, async () => {
        const alice = await newUser("alice");
        const bob = await newUser("bob");
        const a1 = await login(alice, 0, { compression, deviceName: "a1" });
        const a2 = await login(alice, 0, { compression, deviceName: "a2" });
        const b1 = await login(bob, 1, { compression, deviceName: "b1" });
        await a1.nextIndication(isDevice(DeviceType.UPDATE)); // a2 arrived
        await befriend({ client: a1, name: alice }, { client: b1, name: bob });
        const id = Buffer.from([1, 2, 3, 4]);
        const res = await a1.sendIm(bob, "hello bob", { messageId: id });
        assert.equal(res.isError, false, `error ${res.errorCode}`);
        assert.deepEqual(res.tlvs.first(ImTlv.MESSAGE_ID), id);
        assert.equal(typeof u64(res.tlvs, ImTlv.TIMESTAMP), "bigint");

        for (const receiver of [b1, a2]) {
          const got = await receiver.nextIndication(isIm);
          assert.equal(str(got.tlvs, ImTlv.FROM), alice);
          assert.equal(str(got.tlvs, ImTlv.TO), bob);
          assert.equal(got.tlvs.first(ImTlv.MESSAGE_CHUNK)?.toString(), "hello bob");
          assert.deepEqual(got.tlvs.first(ImTlv.MESSAGE_ID), id);
          assert.equal(u16(got.tlvs, ImTlv.CAPABILITY), Capability.IM);
          assert.ok(got.tlvs.has(ImTlv.TIMESTAMP));
        }
        assert.equal(a1.drainIndications().filter(isIm).length, 0, "the sending device gets no copy");
      });
    }

    test("the server sets FROM: nobody can send as someone else", async () => {
      const alice = await newUser("alice");
      const bob = await newUser("bob");
      const a = await login(alice, 0);
      const b = await login(bob, 1);
      await befriend({ client: a, name: alice }, { client: b, name: bob });
      const block = imSendBlock(bob, Buffer.from("it's me, mallory")).string(ImTlv.FROM, "mallory");
      const res = await a.request(Family.IM, ImType.MESSAGE_SEND, block);
      assert.equal(res.isError, false);
      const got = await b.nextIndication(isIm);
      assert.equal(str(got.tlvs, ImTlv.FROM), alice);
    });

    test("messages go only to devices that declared the capability", async () => {
      const alice = await newUser("alice");
      const bob = await newUser("bob");
      const a = await login(alice, 0);
      const typingOnes = await login(bob, 1, {
        deviceName: "full",
        capabilities: [Capability.IM, Capability.TYPING],
      });
      const imOnly = await login(bob, 1, { deviceName: "plain", capabilities: [Capability.IM] });
      await befriend({ client: a, name: alice }, { client: imOnly, name: bob });
      const typing = await a.sendTyping(bob, true);
      assert.equal(typing.isError, false);
      const got = await typingOnes.nextIndication(isIm);
      assert.equal(u16(got.tlvs, ImTlv.CAPABILITY), Capability.TYPING);
      // An IM sent after the typing notice reaches both; the IM-only device must not have seen typing first.
      assert.equal((await a.sendIm(bob, "after typing")).isError, false);
      const first = await imOnly.nextIndication(isIm);
      assert.equal(u16(first.tlvs, ImTlv.CAPABILITY), Capability.IM);
    });

    test("a capability the sending device did not declare is INVALID_CAPABILITY", async () => {
      const alice = await newUser("alice");
      const bob = await newUser("bob");
      const a = await login(alice, 0, { capabilities: [Capability.IM] });
      await login(bob, 1);
      const res = await a.sendTyping(bob, true);
      assert.equal(res.isError, true);
      assert.equal(res.errorCode, ImError.INVALID_CAPABILITY);
      const zero = await a.sendIm(bob, "x", { capability: 0 });
      assert.equal(zero.errorCode, ImError.INVALID_CAPABILITY);
    });

    test("a message to a user with no capable device online is stored before ok and OFFLINE_MESSAGES_GET returns it", async () => {
      const alice = await newUser("alice");
      const bob = await newUser("bob");
      const a = await login(alice, 0);
      const away = await login(bob, 1);
      await befriend({ client: a, name: alice }, { client: away, name: bob });
      await away.close();
      const first = await a.sendIm(bob, "are you there?", { messageId: Buffer.from("m-1") });
      assert.equal(first.isError, false, `error ${first.errorCode}`);
      // A device without IM does not count as capable; TYPING to nobody capable is answered, not stored.
      const toaster = await login(bob, 1, { deviceName: "toaster", capabilities: [Capability.TYPING] });
      assert.equal((await a.sendIm(bob, "still not?", { messageId: Buffer.from("m-2") })).isError, false);
      const typingOnly = await toaster.request(Family.IM, ImType.OFFLINE_MESSAGES_GET);
      assert.equal(typingOnly.isError, false);
      assert.equal(typingOnly.block.length, 0, "nothing of a capability this device declared");

      // Right after BIND, with an empty block, as purple-impp does.
      const b = await login(bob, 1, { deviceName: "desk" });
      const got = await b.request(Family.IM, ImType.OFFLINE_MESSAGES_GET);
      assert.equal(got.isError, false, `error ${got.errorCode}`);
      const list = offlineTuples(got);
      assert.deepEqual(
        list.map((t) => [str(t, ImTlv.FROM), str(t, ImTlv.TO), t.first(ImTlv.MESSAGE_CHUNK)?.toString()]),
        [
          [alice, bob, "are you there?"],
          [alice, bob, "still not?"],
        ],
      );
      assert.deepEqual(list[0]!.first(ImTlv.MESSAGE_ID), Buffer.from("m-1"));
      const newest = u64(got.tlvs, ImTlv.TIMESTAMP);
      assert.equal(newest, u64(list[1]!, ImTlv.TIMESTAMP));
      const del = await b.request(
        Family.IM,
        ImType.OFFLINE_MESSAGES_DELETE,
        new TlvWriter().u64(ImTlv.TIMESTAMP, newest!),
      );
      assert.equal(del.isError, false);
      const empty = await b.request(Family.IM, ImType.OFFLINE_MESSAGES_GET);
      assert.equal(empty.isError, false);
      assert.equal(empty.block.length, 0);
      const bad = await b.request(Family.IM, ImType.OFFLINE_MESSAGES_DELETE);
      assert.equal(bad.errorCode, GlobalError.INVALID_TLV_VALUE, "DELETE without TIMESTAMP");
    });

    test("wrong password and unknown user get the same AUTHENTICATION_INVALID", async () => {
      const name = await newUser("pw");
      const c = await open(0);
      const wrong = await c.authenticate(name, "not the password");
      const unknown = await c.authenticate(`nobody${randomBytes(4).toString("hex")}`, PASSWORD);
      assert.equal(wrong.errorCode, StreamError.AUTHENTICATION_INVALID);
      assert.equal(unknown.errorCode, StreamError.AUTHENTICATION_INVALID);
      assert.deepEqual(wrong.block, unknown.block, "the two answers are identical");
      assert.equal(
        (await c.authenticate(name, PASSWORD)).isError,
        false,
        "the session goes on after a failure",
      );
    });

    test("both password TLV forms log in", async () => {
      const name = await newUser("tlv");
      const c = await open(0, { passwordTlv: 0x4001 });
      assert.equal((await c.authenticate(name, PASSWORD)).isError, false);
    });

    test("failed logins past the per-account limit close the connection, even with the right password", async () => {
      const name = await newUser("limited");
      const c = await open(0);
      for (let i = 0; i < 3; i++) {
        assert.equal((await c.authenticate(name, "wrong")).errorCode, StreamError.AUTHENTICATION_INVALID);
      }
      const over = await c.authenticate(name, "wrong");
      assert.equal(over.errorCode, StreamError.AUTHENTICATION_INVALID);
      await c.waitClosed();
      const again = await open(1);
      assert.equal((await again.authenticate(name, PASSWORD)).errorCode, StreamError.AUTHENTICATION_INVALID);
      await again.waitClosed();
    });

    test("AUTHENTICATE and BIND sent back to back are processed in order", async () => {
      const name = await newUser("pipe");
      const c = await open(0);
      const [auth, bind] = await Promise.all([
        c.authenticate(name, PASSWORD),
        c.bind({ deviceName: "fast" }),
      ]);
      assert.equal(auth.isError, false);
      assert.equal(bind.isError, false, `BIND failed with ${bind.errorCode}`);
      assert.equal(str(bind.tlvs, DeviceTlv.DEVICE_NAME), "fast");
    });

    test("a device name that collides gets a suffix; the per-user limit holds", async () => {
      const name = await newUser("twin");
      await login(name, 0, { deviceName: "laptop" });
      const c = await open(1);
      await c.authenticate(name, PASSWORD);
      const second = await c.bind({ deviceName: "laptop" });
      const given = str(second.tlvs, DeviceTlv.DEVICE_NAME);
      assert.notEqual(given, "laptop");
      assert.ok(given?.startsWith("laptop"), `suffixed name ${given}`);
      await login(name, 0);
      await login(name, 1);
      const fifth = await open(0);
      await fifth.authenticate(name, PASSWORD);
      assert.equal(
        (await fifth.bind({ deviceName: "one-too-many" })).errorCode,
        DeviceError.TOO_MANY_DEVICES,
      );
    });

    test("unbinding another device disconnects it and tells the remaining devices", async () => {
      const name = await newUser("kick");
      const a = await login(name, 0, { deviceName: "boss" });
      const b = await login(name, 1, { deviceName: "victim" });
      const c = await login(name, 0, { deviceName: "witness" });
      a.drainIndications();
      const res = await a.request(
        Family.DEVICE,
        DeviceType.UNBIND,
        new TlvWriter().string(DeviceTlv.DEVICE_NAME, "victim"),
      );
      assert.equal(res.isError, false);
      const told = await b.nextIndication(isDevice(DeviceType.UNBIND));
      assert.equal(str(told.tlvs, DeviceTlv.DEVICE_NAME), "victim");
      await b.waitClosed();
      const witnessed = await c.nextIndication(
        (f) => isDevice(DeviceType.UNBIND)(f) && str(f.tlvs, DeviceTlv.DEVICE_NAME) === "victim",
      );
      assert.ok(witnessed);
      assert.equal((await a.ping()).isError, false);
      assert.equal(
        a.drainIndications().filter(isDevice(DeviceType.UNBIND)).length,
        0,
        "the requester gets only the response",
      );
      const unknown = await a.request(
        Family.DEVICE,
        DeviceType.UNBIND,
        new TlvWriter().string(DeviceTlv.DEVICE_NAME, "ghost"),
      );
      assert.equal(unknown.errorCode, GlobalError.INVALID_TLV_VALUE);
    });

    test("PING is answered before TLS", async () => {
      const c = await open(0, { tls: "none" });
      const res = await c.ping();
      assert.equal(res.isError, false);
      assert.ok(res.tlvs.has(StreamTlv.TIMESTAMP));
    });

    test("an idle connection is closed after the idle timeout", async () => {
      const name = await newUser("idle");
      const c = await login(name, 0);
      const info = await c.waitClosed(15_000);
      assert.equal(info.initiator, "server");
    });

    describe("hostile input: the protocol's error, and everyone else keeps being served", () => {
      let bystander: ImppClient;
      before(async () => {
        bystander = await login(await newUser("bystander"), 1);
      });
      const stillServing = async () => {
        assert.equal((await bystander.ping()).isError, false, "another user is still served");
      };

      test("a wrong start byte is INVALID_CONNECTION, then close", async () => {
        const c = await login(await newUser("bad"), 0);
        c.writeRaw(Buffer.from([0x70, 0x02, 0, 0, 0, 3, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0]));
        const info = await c.waitClosed();
        assert.equal(info.errorFrame?.errorCode, GlobalError.INVALID_CONNECTION);
        await stillServing();
      });

      test("an unknown channel is INVALID_CONNECTION, then close", async () => {
        const c = await login(await newUser("bad"), 0);
        c.writeRaw(Buffer.from([0x6f, 0x09, 0, 0]));
        const info = await c.waitClosed();
        assert.equal(info.errorFrame?.errorCode, GlobalError.INVALID_CONNECTION);
        await stillServing();
      });

      test("a block size over the limit is INVALID_TLV_LENGTH echoing the header, then close", async () => {
        const c = await login(await newUser("bad"), 0);
        const header = Buffer.from([0x6f, 0x02, 0, 0, 0, 4, 0, 3, 0, 0, 0x12, 0x34, 0, 0x10, 0, 0]); // 1 MiB block
        c.writeRaw(header);
        const info = await c.waitClosed();
        assert.equal(info.errorFrame?.errorCode, GlobalError.INVALID_TLV_LENGTH);
        assert.equal(info.errorFrame?.family, Family.IM);
        assert.equal(info.errorFrame?.sequence, 0x1234);
        await stillServing();
      });

      test("a TLV overrunning its block is INVALID_TLV_LENGTH and the session goes on", async () => {
        const c = await login(await newUser("bad"), 0);
        const block = Buffer.from([0, 2, 0, 100, 0x61, 0x62]); // TO claims 100 bytes, has 2
        const res = await c.request(Family.IM, ImType.MESSAGE_SEND, block);
        assert.equal(res.errorCode, GlobalError.INVALID_TLV_LENGTH);
        assert.equal((await c.ping()).isError, false);
      });

      test("a request before TLS is INVALID_STATE, then close", async () => {
        const c = await open(0, { tls: "none" });
        c.send(Family.STREAM, StreamType.AUTHENTICATE, new TlvWriter().u16(StreamTlv.MECHANISM, 1));
        const info = await c.waitClosed();
        assert.equal(info.errorFrame?.errorCode, GlobalError.INVALID_STATE);
        await stillServing();
      });

      test("a request before login or before bind is INVALID_STATE, and the session goes on", async () => {
        const name = await newUser("early");
        const c = await open(0);
        assert.equal((await c.sendIm("someone", "hi")).errorCode, GlobalError.INVALID_STATE);
        assert.equal((await c.request(Family.DEVICE, DeviceType.BIND)).errorCode, GlobalError.INVALID_STATE);
        assert.equal((await c.authenticate(name, PASSWORD)).isError, false);
        assert.equal((await c.sendIm("someone", "hi")).errorCode, GlobalError.INVALID_STATE);
        assert.equal((await c.bind({ deviceName: "late" })).isError, false);
      });

      test("unknown families and types get INVALID_TLV_FAMILY / INVALID_TLV_VALUE", async () => {
        const c = await login(await newUser("odd"), 0);
        assert.equal((await c.request(99, 1)).errorCode, GlobalError.INVALID_TLV_FAMILY);
        assert.equal((await c.request(Family.IM, 99)).errorCode, GlobalError.INVALID_TLV_VALUE);
        const ext = await c.request(0x4001, 1);
        assert.equal(ext.errorCode, GlobalError.INVALID_TLV_FAMILY);
        assert.equal(ext.flags, Flags.ERROR | Flags.EXTENSION);
        assert.equal((await c.ping()).isError, false);
      });

      test("a zip bomb under compression is INVALID_TLV_LENGTH, not an out-of-memory", async () => {
        const c = await login(await newUser("bomb"), 0, { compression: true });
        assert.equal(c.compressionActive, true);
        const bomb = deflateBlock(Buffer.alloc(64 * 1024 * 1024));
        const frame = encodeFrame(
          { flags: 0, family: Family.IM, type: ImType.MESSAGE_SEND, sequence: 77 },
          bomb,
        );
        const answer = new Promise<ResponseFrame>((resolve) =>
          c.on("frame", (f) => {
            if (f.isError && f.sequence === 77) resolve(f);
          }),
        );
        c.writeRaw(frame);
        const err = await Promise.race([answer, c.waitClosed().then((i) => i.errorFrame)]);
        assert.equal(err?.errorCode, GlobalError.INVALID_TLV_LENGTH);
        await stillServing();
      });

      test("written is not delivered: a recipient that stops reading loses no acknowledged IM", async (t) => {
        const alice = await newUser("flood");
        const bob = await newUser("sleepy");
        const a = await login(alice, 0);
        const b = await login(bob, 1);
        await befriend({ client: a, name: alice }, { client: b, name: bob });
        const received: string[] = [];
        b.on("frame", (f) => {
          if (isIm(f)) received.push(f.tlvs.first(ImTlv.MESSAGE_ID)!.toString("hex"));
        });
        b.pause();
        const chunk = randomBytes(4096);
        const ok: string[] = [];
        let refused = 0;
        for (let i = 0; i < 1500; i++) {
          const id = Buffer.alloc(4);
          id.writeUInt32BE(i);
          const res = await a.sendIm(bob, "", { chunk, messageId: id });
          if (res.isError) refused++;
          else ok.push(id.toString("hex"));
        }
        b.resume();
        const closed = await b.waitClosed();
        assert.equal(closed.initiator, "server", "bob was cut off as a slow reader");
        // Bob comes back and takes what was stored.
        const again = await login(bob, 0, { deviceName: "again" });
        const stored = await takeOffline(again);
        const got = new Set([...received, ...stored]);
        const lost = ok.filter((id) => !got.has(id));
        const both = received.filter((id) => stored.includes(id)).length;
        t.diagnostic(
          `sent 1500, ok ${ok.length}, refused ${refused}, delivered ${received.length}, stored ${stored.length}, delivered and stored ${both}, lost ${lost.length}`,
        );
        assert.deepEqual(lost, [], "every acknowledged message was received or stored");
        assert.equal(new Set(received).size, received.length, "nothing delivered twice");
        assert.equal(new Set(stored).size, stored.length, "nothing stored twice");
        assert.ok(stored.length > 0, "the slow reader's backlog went to the store");
        // (Not the bystander: this test runs longer than the suite's idle timeout.)
        assert.equal((await a.ping()).isError, false, "the sender is still served");
      });
    });

    if (isMultiProcess(mode)) {
      test("when an edge process is killed, the user's other devices see that device go away", async () => {
        const name = await newUser("survivor");
        const stays = await login(name, 0, { deviceName: "stays" });
        await login(name, 1, { deviceName: "doomed" });
        await stays.nextIndication(isDevice(DeviceType.UPDATE));
        const alice = await newUser("sender");
        const bob = await newUser("bounced");
        const a = await login(alice, 0);
        const b = await login(bob, 1);
        await befriend({ client: a, name: alice }, { client: b, name: bob });
        await cluster.killEdge(1, "SIGKILL");
        // Bob's device is still registered on the dead edge: the delivery reaches nobody and the
        // message takes the bounce path to the offline store.
        const res = await a.sendIm(bob, "your edge just died", { messageId: Buffer.from("bounce") });
        assert.equal(res.isError, false, `error ${res.errorCode}`);
        const gone = await stays.nextIndication(isDevice(DeviceType.UNBIND), 15_000);
        assert.equal(str(gone.tlvs, DeviceTlv.DEVICE_NAME), "doomed");
        const back = await login(bob, 0);
        const stored = offlineTuples(await back.request(Family.IM, ImType.OFFLINE_MESSAGES_GET));
        assert.deepEqual(
          stored.map((t) => t.first(ImTlv.MESSAGE_CHUNK)?.toString()),
          ["your edge just died"],
        );
      });

      test("when the services process dies, requests get SERVICE_UNAVAILABLE at once and the edge keeps serving", async () => {
        const alice = await newUser("orphan");
        const bob = await newUser("orphan");
        const a = await login(alice, 0);
        const b = await login(bob, 0);
        await befriend({ client: a, name: alice }, { client: b, name: bob });
        assert.equal((await a.sendIm(bob, "before")).isError, false);
        await cluster.killServices();
        const t0 = Date.now();
        const res = await a.sendIm(bob, "after");
        assert.equal(
          res.errorCode,
          GlobalError.SERVICE_UNAVAILABLE,
          "never an ok for a message nobody handled",
        );
        assert.ok(Date.now() - t0 < 4000, "no responders is answered at once, not after the request timeout");
        assert.equal((await a.ping()).isError, false, "the edge still answers");
        const fresh = await open(0);
        assert.equal((await fresh.authenticate(alice, PASSWORD)).errorCode, GlobalError.SERVICE_UNAVAILABLE);
      });
    }
  });
}

// ---- small readers that fail the test on a malformed value instead of returning garbage

/** The OFFLINE_MESSAGE tuples of a GET response. */
export function offlineTuples(f: ResponseFrame): TlvBlock[] {
  assert.equal(f.isError, false, `OFFLINE_MESSAGES_GET failed with ${f.errorCode}`);
  const list = f.tlvs.nestedAll(ImTlv.OFFLINE_MESSAGE);
  assert.ok(Array.isArray(list), "OFFLINE_MESSAGE tuples are nested blocks");
  return list;
}

/** GET and DELETE until the store is empty: the MESSAGE_IDs (hex), oldest first. */
export async function takeOffline(c: ImppClient): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const res = await c.request(Family.IM, ImType.OFFLINE_MESSAGES_GET);
    const list = offlineTuples(res);
    if (list.length === 0) return ids;
    for (const t of list) ids.push(t.first(ImTlv.MESSAGE_ID)!.toString("hex"));
    const newest = u64(res.tlvs, ImTlv.TIMESTAMP)!;
    const del = await c.request(
      Family.IM,
      ImType.OFFLINE_MESSAGES_DELETE,
      new TlvWriter().u64(ImTlv.TIMESTAMP, newest),
    );
    assert.equal(del.isError, false);
  }
}

const isIm = (f: ResponseFrame) => f.family === Family.IM && f.type === ImType.MESSAGE_SEND && f.isIndication;
const isDevice = (type: number) => (f: ResponseFrame) =>
  f.family === Family.DEVICE && f.type === type && f.isIndication;

function str(b: TlvBlock, type: number): string | undefined {
  const v = b.string(type);
  assert.ok(!isProtocolError(v), `TLV ${type}: ${String(v)}`);
  return v as string | undefined;
}
function u8(b: TlvBlock, type: number): number | undefined {
  const v = b.u8(type);
  assert.ok(!isProtocolError(v));
  return v as number | undefined;
}
function u16(b: TlvBlock, type: number): number | undefined {
  const v = b.u16(type);
  assert.ok(!isProtocolError(v));
  return v as number | undefined;
}
function u64(b: TlvBlock, type: number): bigint | undefined {
  const v = b.u64(type);
  assert.ok(!isProtocolError(v));
  return v as bigint | undefined;
}
function nested(b: TlvBlock, type: number): TlvBlock {
  const v = b.nested(type);
  assert.ok(v instanceof TlvBlock, `TLV ${type} is not a nested block`);
  return v;
}
function tupleNames(f: ResponseFrame): string[] {
  return f.tlvs.all(DeviceTlv.DEVICE_TUPLE).map((raw) => {
    const t = TlvBlock.parse(raw);
    assert.ok(t instanceof TlvBlock);
    return str(t, DeviceTlv.DEVICE_NAME) ?? "";
  });
}
