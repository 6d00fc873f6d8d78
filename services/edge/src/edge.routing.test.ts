// Integration: routing over the bus — ordering (§2.4), the request envelope, replies and their
// actions, compression both ways, SERVICE_UNAVAILABLE, backpressure.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Bus, ReplyAction, type RequestEnvelope, subjects } from "@impp/bus";
import {
  DeviceType,
  deflateBlock,
  Family,
  Feature,
  Flags,
  GlobalError,
  GroupChatsType,
  ImTlv,
  ImType,
  ListsType,
  PresenceType,
  readSequence,
  StreamType,
  TlvWriter,
} from "@impp/protocol";
import { authenticateBlock, bindBlock, errorCode, TestClient, tlvs, turns } from "@impp/test-kit";
import { MAX_QUEUED_REQUESTS } from "./connection.js";
import { CloseReason } from "./sweeper.js";
import {
  fakeAuth,
  fakeDevice,
  fakeService,
  reply,
  responseTo,
  type Stack,
  startStack,
  watchDeviceGone,
} from "./test-support.js";

/** A service whose answers wait until the test releases them (by sequence). */
function gatedService(bus: Bus, family: number) {
  const gates = new Map<number, () => void>();
  const arrived = new Map<number, () => void>();
  const waiting = new Map<number, Promise<void>>();
  const seen = fakeService(bus, family, async (req) => {
    arrived.get(req.sequence)?.();
    await new Promise<void>((r) => gates.set(req.sequence, r));
    return reply([responseTo(req, new TlvWriter().u32(1, req.sequence))]);
  });
  return {
    seen,
    /** Resolves once the service has the request with this sequence. */
    arrival(seq: number): Promise<void> {
      if (seen.some((r) => r.sequence === seq)) return Promise.resolve();
      let p = waiting.get(seq);
      if (p === undefined) {
        p = new Promise<void>((r) => arrived.set(seq, r));
        waiting.set(seq, p);
      }
      return p;
    },
    release(seq: number) {
      const g = gates.get(seq);
      assert.ok(g, `request ${seq} is not held by the service`);
      gates.delete(seq);
      g();
    },
  };
}

let stack: Stack;
let authGate: Promise<void> | undefined;
let authSeen: RequestEnvelope[];
let deviceSeen: RequestEnvelope[];
let im: ReturnType<typeof gatedService>;
let presence: RequestEnvelope[];
let gone: ReturnType<typeof watchDeviceGone>;

before(async () => {
  stack = await startStack({ limits: { maxBlockSize: 8192, requestTimeoutMs: 5000 } });
  authSeen = fakeAuth(stack.bus, () => authGate ?? Promise.resolve());
  deviceSeen = fakeDevice(stack.bus);
  im = gatedService(stack.bus, Family.IM);
  presence = fakeService(stack.bus, Family.PRESENCE, (req, msg) =>
    reply([responseTo(req, new TlvWriter().string(1, msg.headers?.traceparent ?? "none"))]),
  );
  gone = watchDeviceGone(stack.bus);
});
after(() => stack.stop());

describe("ordering (§2.4)", () => {
  test("AUTHENTICATE and BIND pipelined back to back: BIND waits for AUTHENTICATE's reply and its SET_ACCOUNT", async () => {
    let openGate!: () => void;
    authGate = new Promise<void>((r) => (openGate = r));
    const c = await TestClient.open(stack.edge.ports.plain);
    const bindsBefore = deviceSeen.length;
    const a = c.frame(Family.STREAM, StreamType.AUTHENTICATE, authenticateBlock("tricia"));
    const b = c.frame(Family.DEVICE, DeviceType.BIND, bindBlock("laptop", [1, 2]));
    c.write(Buffer.concat([a, b]));
    while (authSeen.at(-1)?.sequence !== readSequence(a, 0)) await turns(1);
    await turns(20);
    assert.equal(deviceSeen.length, bindsBefore, "BIND reached its service before AUTHENTICATE was answered");
    openGate();
    authGate = undefined;
    const r1 = await c.nextTlv();
    const r2 = await c.nextTlv();
    assert.deepEqual(
      [r1.family, r1.flags, r2.family, r2.flags],
      [Family.STREAM, Flags.RESPONSE, Family.DEVICE, Flags.RESPONSE],
    );
    const bind = deviceSeen.at(-1)!;
    assert.equal(bind.account, "tricia");
    assert.equal(bind.device, "");
    c.close();
    await gone.waitFor("tricia");
  });

  test("once bound: one request in flight per family, families concurrent, responses out of order", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "arthur", "phone");
    const s1 = c.seq + 1;
    const f1 = c.frame(Family.IM, ImType.MESSAGE_SEND, Buffer.alloc(0));
    const f2 = c.frame(Family.IM, ImType.MESSAGE_SEND, Buffer.alloc(0));
    const f3 = c.frame(Family.PRESENCE, PresenceType.SET, Buffer.alloc(0));
    c.write(Buffer.concat([f1, f2, f3]));
    await im.arrival(s1);
    const first = await c.nextTlv();
    assert.deepEqual([first.family, first.sequence], [Family.PRESENCE, s1 + 2]);
    assert.equal(
      im.seen.filter((r) => r.sequence === s1 + 1).length,
      0,
      "second IM ran before the first was answered",
    );
    im.release(s1);
    const second = await c.nextTlv();
    assert.deepEqual([second.family, second.sequence], [Family.IM, s1]);
    await im.arrival(s1 + 1);
    im.release(s1 + 1);
    const third = await c.nextTlv();
    assert.deepEqual([third.family, third.sequence], [Family.IM, s1 + 1]);
    c.close();
    await gone.waitFor("arthur");
  });
});

describe("the request envelope", () => {
  test("carries the session, the connection and the edge; no trace context while nothing exports spans", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "ford", "satchel", [1, 2, 0x4001]);
    const block = new TlvWriter().string(1, "x").finish();
    const sent = Date.now();
    const res = await c.request(Family.PRESENCE, PresenceType.GET, block);
    const req = presence.at(-1)!;
    // The deadline: a service may start the request within half of the edge's timeout.
    const budget = stack.config.limits.requestTimeoutMs / 2;
    assert.ok(req.deadline !== undefined && req.deadline >= sent + budget - 1, `deadline ${req.deadline}`);
    assert.ok(req.deadline <= Date.now() + budget, `deadline ${req.deadline}`);
    assert.deepEqual(
      { ...req, block: Buffer.from(req.block), connId: undefined, deadline: undefined },
      {
        flags: 0,
        family: Family.PRESENCE,
        type: PresenceType.GET,
        sequence: res.sequence,
        connId: undefined,
        edgeId: stack.edge.edgeId,
        server: "edge.test:3158",
        account: "ford",
        device: "satchel",
        remoteAddress: "127.0.0.1",
        capabilities: [1, 2, 0x4001],
        block,
        deadline: undefined,
      },
    );
    assert.match(req.connId, /.+/);
    // Telemetry that costs nothing when nobody listens (#13): no span, so no traceparent header.
    // With an exporter the trace crosses the bus: edge.trace.test.ts.
    assert.equal(tlvs(res).string(1), "none");
    c.close();
    await gone.waitFor("ford");
  });
});

describe("compression (§2.6)", () => {
  test("both ways: the service sees the inflated block, the client gets deflated blocks", async () => {
    const c = await TestClient.bound(
      stack.edge.ports.plain,
      "zaphod",
      "hog",
      [1],
      Feature.TLS | Feature.COMPRESSION,
    );
    const text = "and another thing ".repeat(40);
    const res = await c.request(Family.PRESENCE, PresenceType.SET, new TlvWriter().string(4, text).finish());
    assert.equal(Buffer.from(presence.at(-1)!.block).toString("latin1").includes(text), true);
    assert.equal(res.flags, Flags.RESPONSE);
    assert.notDeepEqual(res.wire, res.block, "response block was not compressed");
    // An empty block is sent with size 0 and reaches the service empty.
    const ping = c.send(Family.PRESENCE, PresenceType.GET);
    const empty = await c.nextTlv();
    assert.equal(empty.sequence, ping);
    assert.equal(presence.at(-1)!.block.length, 0);
    c.close();
    await gone.waitFor("zaphod");
  });

  test("a zip bomb, a broken zlib stream and inflated TLVs that overrun are INVALID_TLV_LENGTH; the session goes on", async () => {
    const c = await TestClient.bound(
      stack.edge.ports.plain,
      "bomb",
      "b",
      [1],
      Feature.TLS | Feature.COMPRESSION,
    );
    const before = presence.length;
    c.compression = false; // write raw blocks by hand
    const bomb = deflateBlock(new TlvWriter().bytes(1, Buffer.alloc(1024 * 1024)).finish());
    assert.ok(bomb.length < 8192);
    for (const wire of [bomb, Buffer.from([1, 2, 3, 4]), deflateBlock(Buffer.from([0, 1, 0, 50, 1]))]) {
      const seq = c.send(Family.PRESENCE, PresenceType.SET, wire);
      c.compression = true;
      const e = await c.nextTlv();
      c.compression = false;
      assert.equal(e.sequence, seq);
      assert.equal(errorCode(e), GlobalError.INVALID_TLV_LENGTH);
    }
    c.compression = true;
    await c.ping();
    assert.equal(presence.length, before);
    c.close();
    await gone.waitFor("bomb");
  });
});

describe("replies", () => {
  test("several frames are written in order; CLOSE_AFTER closes after them and device-gone follows", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "slartibartfast", "fjord");
    fakeService(stack.bus, Family.LISTS, (req) => {
      const ind = new TlvWriter()
        .string(1, "x")
        .frame({ flags: Flags.INDICATION, family: Family.LISTS, type: 2, sequence: 0 });
      return reply(
        [ind, responseTo(req)],
        req.type === ListsType.BLOCK_ADD ? { actions: ReplyAction.CLOSE_AFTER } : {},
      );
    });
    const seq = c.send(Family.LISTS, ListsType.GET);
    const m1 = await c.nextTlv();
    const m2 = await c.nextTlv();
    assert.deepEqual([m1.flags, m2.flags, m2.sequence], [Flags.INDICATION, Flags.RESPONSE, seq]);
    c.send(Family.LISTS, ListsType.BLOCK_ADD);
    assert.equal((await c.nextTlv()).flags, Flags.INDICATION);
    assert.equal((await c.nextTlv()).flags, Flags.RESPONSE);
    await c.expectClose();
    const g = await gone.waitFor("slartibartfast");
    assert.deepEqual(
      [g.account, g.device, g.reason, g.edgeId],
      ["slartibartfast", "fjord", CloseReason.SERVER_CLOSE, stack.edge.edgeId],
    );
  });

  test("CLEAR_DEVICE: back to logged in, no device-gone when the connection then closes", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "eddie", "ship");
    fakeService(stack.bus, Family.AVATAR, (req) =>
      reply([responseTo(req)], { actions: ReplyAction.CLEAR_DEVICE }),
    );
    await c.request(Family.AVATAR, 1);
    assert.equal(errorCode(await c.request(Family.IM, ImType.MESSAGE_SEND)), GlobalError.INVALID_STATE);
    c.close();
    await c.closed;
    // A later bound connection's device-gone arrives; eddie's never does.
    const later = await TestClient.bound(stack.edge.ports.plain, "later", "x");
    later.close();
    await gone.waitFor("later");
    assert.equal(gone.got.filter((g) => g.account === "eddie").length, 0);
  });
});

describe("SERVICE_UNAVAILABLE", () => {
  test("no responders, an undecodable reply, a reply with corrupt frames: global error echoing the request", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "marvin", "depressed");
    const noService = await c.request(Family.GROUP_CHATS, GroupChatsType.GET);
    assert.deepEqual(
      [noService.flags, noService.family, noService.type],
      [Flags.ERROR, Family.GROUP_CHATS, GroupChatsType.GET],
    );
    assert.equal(errorCode(noService), GlobalError.SERVICE_UNAVAILABLE);
    const sub = stack.bus.subscribe(subjects.request(Family.GROUP_CHATS), (msg) => {
      msg.respond(
        msg.data.length % 2 === 0
          ? Buffer.from([1, 2, 9])
          : Buffer.from([1, 2, 0, 0, 0, 0, 5, 0x6f, 2, 0, 0, 0]),
      );
    });
    assert.equal(
      errorCode(await c.request(Family.GROUP_CHATS, GroupChatsType.GET)),
      GlobalError.SERVICE_UNAVAILABLE,
    );
    assert.equal(
      errorCode(await c.request(Family.GROUP_CHATS, GroupChatsType.GET, Buffer.from([0, 1, 0, 0]))),
      GlobalError.SERVICE_UNAVAILABLE,
    );
    sub.unsubscribe();
    await c.ping();
    c.close();
    await gone.waitFor("marvin");
  });

  test("a service that does not answer in time", async () => {
    const s = await startStack({ limits: { requestTimeoutMs: 150 } });
    fakeAuth(s.bus);
    fakeDevice(s.bus);
    fakeService(s.bus, Family.IM, () => undefined);
    const c = await TestClient.bound(s.edge.ports.plain, "trillian", "d");
    const e = await c.request(
      Family.IM,
      ImType.MESSAGE_SEND,
      new TlvWriter().u16(ImTlv.CAPABILITY, 1).finish(),
    );
    assert.equal(errorCode(e), GlobalError.SERVICE_UNAVAILABLE);
    c.close();
    await s.stop();
  });
});

describe("backpressure", () => {
  test("a client flooding one family: the edge queues at most MAX_QUEUED_REQUESTS and answers everything in order", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "flood", "hose");
    const first = c.seq + 1;
    const N = 400;
    const frames: Buffer[] = [];
    for (let i = 0; i < N; i++) frames.push(c.frame(Family.IM, ImType.OFFLINE_MESSAGES_GET, Buffer.alloc(0)));
    await new Promise<void>((r) => c.socket.write(Buffer.concat(frames), () => r()));
    await im.arrival(first);
    let maxQueued = 0;
    for (let i = 0; i < 50; i++) {
      await turns(2);
      maxQueued = Math.max(maxQueued, stack.edge.queuedRequests());
    }
    assert.ok(maxQueued <= MAX_QUEUED_REQUESTS, `queued ${maxQueued}`);
    assert.ok(
      maxQueued >= MAX_QUEUED_REQUESTS - 1,
      `queued only ${maxQueued}: the test did not fill the queue`,
    );
    for (let i = 0; i < N; i++) {
      await im.arrival(first + i);
      im.release(first + i);
      const r = await c.nextTlv();
      assert.equal(r.sequence, first + i);
    }
    c.close();
    await gone.waitFor("flood");
  });
});
