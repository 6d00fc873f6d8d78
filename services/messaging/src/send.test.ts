import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import {
  type Bus,
  createMemoryBus,
  type DeliveryEnvelope,
  DeliveryFilter,
  type RequestEnvelope,
} from "@impp/bus";
import {
  Capability,
  Family,
  GlobalError,
  ImError,
  ImTlv,
  ImType,
  TlvBlock,
  TlvWriter,
  TypingState,
} from "@impp/protocol";
import { RelationsCache, rosterMigrations } from "@impp/roster";
import { befriend, block, seedAccounts } from "@impp/roster/testing";
import { errorCode, type FakeEdge, fakeEdge, handlerFor, only, testConfig } from "@impp/service-kit/testing";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { sql } from "kysely";
import type { MessagingDeps } from "./send.js";

const handleImRequest = (req: RequestEnvelope, deps: MessagingDeps) =>
  handlerFor(messagingModule, Family.IM, deps, deps.config)(req);

import { messagingModule } from "./module.js";
import { bindDevice as bindOn, request } from "./test-support.js";

const config = testConfig({ IMPP_DOMAIN: "example.org" });
const NOW = 1_700_000_000_500;

function parse(b: Uint8Array): TlvBlock {
  const r = TlvBlock.parse(Buffer.from(b), 4);
  if (!(r instanceof TlvBlock)) throw r;
  return r;
}

interface Send {
  to?: string;
  capability?: number;
  id?: Buffer;
  size?: number;
  chunk?: Buffer;
  createdAt?: number;
  from?: string;
}

function sendBlock(s: Send = {}): Buffer {
  const w = new TlvWriter();
  if (s.from !== undefined) w.string(ImTlv.FROM, s.from);
  if (s.to !== "") w.string(ImTlv.TO, s.to ?? "Arthur");
  if (s.capability !== -1) w.u16(ImTlv.CAPABILITY, s.capability ?? Capability.IM);
  if (s.id === undefined || s.id.length > 0) w.bytes(ImTlv.MESSAGE_ID, s.id ?? Buffer.from([1, 2, 3, 4]));
  w.u32(ImTlv.MESSAGE_SIZE, s.size ?? 5);
  w.bytes(ImTlv.MESSAGE_CHUNK, s.chunk ?? Buffer.from("hello"));
  w.u64(ImTlv.CREATED_AT, s.createdAt ?? 1_699_999_999_000);
  return Buffer.from(w.finish());
}

describe("IM MESSAGE_SEND", () => {
  let bus: Bus;
  let sessions: SessionStore;
  let edgeA: FakeEdge;
  let edgeB: FakeEdge;
  let deps: MessagingDeps;

  const bindDevice = (account: string, name: string, edgeId: string, capabilities: number[]) =>
    bindOn(sessions, account, name, edgeId, capabilities);

  let store: Store;
  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    await store.migrate(rosterMigrations);
    await seedAccounts(store, ["tricia", "arthur", "zaphod", "marvin", "ford", "trillian"]);
    await befriend(store, "tricia", "trillian");
    await befriend(store, "tricia", "arthur");
    await befriend(store, "tricia", "zaphod");
    await befriend(store, "tricia", "ford");
    await block(store, "ford", "tricia");
  });
  after(() => store.close());

  beforeEach(async () => {
    bus = createMemoryBus();
    sessions = createMemorySessionStore();
    edgeA = fakeEdge(bus, "edge-a");
    edgeB = fakeEdge(bus, "edge-b");
    deps = { bus, sessions, relations: new RelationsCache(store), config, now: () => NOW };
    // The sender, on edge-a as "laptop", declared IM and TYPING (see request()).
    await bindDevice("tricia", "laptop", "edge-a", [1, 2]);
    await bindDevice("tricia", "tablet", "edge-b", [1]);
    await bindDevice("tricia", "watch", "edge-a", [2]);
    await bindDevice("arthur", "phone", "edge-a", [1]);
    await bindDevice("arthur", "desk", "edge-b", [1, 2]);
    await bindDevice("arthur", "fridge", "edge-b", [7]);
    await bindDevice("zaphod", "pda", "edge-b", [1]);
  });
  afterEach(async () => {
    await bus.close();
    await sessions.close();
  });

  const send = (s: Send = {}, over = {}) => handleImRequest(request(sendBlock(s), over), deps);
  const forAccount = (edge: FakeEdge, account: string): DeliveryEnvelope[] =>
    edge.received.filter((d) => d.account === account);

  test("delivers to the recipient's capable devices (one delivery per edge) and copies to the sender's other capable devices", async () => {
    const reply = await send({ from: "zaphod" });
    assert.equal(reply.actions, 0);
    const f = only(reply.frames);
    assert.deepEqual([f.flags, f.family, f.type, f.sequence], [1, 4, 3, 77]);
    const r = parse(f.block);
    assert.deepEqual(r.first(ImTlv.MESSAGE_ID), Buffer.from([1, 2, 3, 4]));
    assert.equal(r.u64number(ImTlv.TIMESTAMP), NOW);
    assert.equal(r.tlvs.length, 2);

    const toA = forAccount(edgeA, "arthur");
    const toB = forAccount(edgeB, "arthur");
    assert.equal(toA.length, 1);
    assert.equal(toB.length, 1);
    for (const d of [...toA, ...toB]) {
      assert.deepEqual([d.filter, d.device, d.capability, d.closeAfter], [DeliveryFilter.ALL, "", 1, false]);
    }
    // Copies: the tablet (edge-b) has IM; the watch (edge-a) does not, so edge-a gets no copy.
    assert.deepEqual(forAccount(edgeA, "tricia"), []);
    const copies = forAccount(edgeB, "tricia");
    assert.equal(copies.length, 1);
    assert.deepEqual(
      [copies[0]!.filter, copies[0]!.device, copies[0]!.capability],
      [DeliveryFilter.EXCEPT_DEVICE, "laptop", 1],
    );
    assert.deepEqual(forAccount(edgeB, "zaphod"), []);

    // The same indication bytes everywhere.
    const bytes = toA[0]!.frames;
    assert.deepEqual(toB[0]!.frames, bytes);
    assert.deepEqual(copies[0]!.frames, bytes);
    const ind = only(bytes);
    assert.deepEqual([ind.flags, ind.family, ind.type, ind.sequence], [2, 4, ImType.MESSAGE_SEND, 0]);
    const b = parse(ind.block);
    assert.equal(b.string(ImTlv.FROM), "tricia", "FROM is the sender's account whatever the request said");
    assert.equal(b.all(ImTlv.FROM).length, 1);
    assert.equal(b.string(ImTlv.TO), "arthur");
    assert.equal(b.u16(ImTlv.CAPABILITY), 1);
    assert.deepEqual(b.first(ImTlv.MESSAGE_ID), Buffer.from([1, 2, 3, 4]));
    assert.equal(b.u32(ImTlv.MESSAGE_SIZE), 5);
    assert.equal(b.first(ImTlv.MESSAGE_CHUNK)?.toString(), "hello");
    assert.equal(b.u64number(ImTlv.CREATED_AT), 1_699_999_999_000);
    assert.equal(b.u64number(ImTlv.TIMESTAMP), NOW);
  });

  test("past the edge's deadline when the reads are done: SERVICE_UNAVAILABLE, nothing delivered (the sender may have been told it failed)", async () => {
    const late = await send({ from: "zaphod" }, { deadline: NOW - 1 });
    assert.equal(errorCode(only(late.frames)), GlobalError.SERVICE_UNAVAILABLE);
    assert.deepEqual([...edgeA.received, ...edgeB.received], []);
    // At the deadline it is still in time.
    const onTime = await send({ from: "zaphod" }, { deadline: NOW });
    assert.equal(only(onTime.frames).flags, 1);
    assert.equal(forAccount(edgeA, "arthur").length, 1);
  });

  test("TYPING is relayed like IM, to devices that declared TYPING only", async () => {
    const reply = await send({
      capability: Capability.TYPING,
      chunk: Buffer.from([0, TypingState.TYPING]),
      size: 2,
    });
    assert.equal(only(reply.frames).flags, 1);
    assert.deepEqual(forAccount(edgeA, "arthur"), [], "the phone has no TYPING");
    const toB = forAccount(edgeB, "arthur");
    assert.equal(toB.length, 1);
    assert.equal(toB[0]!.capability, Capability.TYPING);
    assert.deepEqual(parse(only(toB[0]!.frames).block).first(ImTlv.MESSAGE_CHUNK), Buffer.from([0, 2]));
    // The sender's watch (edge-a) has TYPING, the tablet does not.
    assert.deepEqual(forAccount(edgeB, "tricia"), []);
    const copies = forAccount(edgeA, "tricia");
    assert.deepEqual(
      [copies.length, copies[0]?.filter, copies[0]?.device],
      [1, DeliveryFilter.EXCEPT_DEVICE, "laptop"],
    );
  });

  test("sending to yourself reaches your other devices, once", async () => {
    const reply = await send({ to: "tricia@example.org" });
    assert.equal(only(reply.frames).flags, 1);
    assert.deepEqual(forAccount(edgeA, "tricia"), [], "the only other device on edge-a has no IM");
    const d = forAccount(edgeB, "tricia");
    assert.equal(d.length, 1);
    assert.deepEqual([d[0]!.filter, d[0]!.device], [DeliveryFilter.EXCEPT_DEVICE, "laptop"]);
    assert.equal(edgeA.received.length + edgeB.received.length, 1);
  });

  test("USERNAME_NOT_CONTACT when the recipient is not my contact; USERNAME_BLOCKED when either side blocks", async () => {
    await bindDevice("marvin", "brain", "edge-a", [1]);
    await bindDevice("ford", "towel", "edge-a", [1]);
    assert.equal(errorCode(only((await send({ to: "marvin" })).frames)), ImError.USERNAME_NOT_CONTACT);
    // Ford blocks Tricia: she cannot message him although they are contacts…
    assert.equal(errorCode(only((await send({ to: "ford" })).frames)), ImError.USERNAME_BLOCKED);
    // …and a block of mine, made after my relations were cached, is in force for my next message.
    await send({ to: "arthur" });
    await block(store, "tricia", "arthur", sessions);
    assert.equal(errorCode(only((await send({ to: "arthur" })).frames)), ImError.USERNAME_BLOCKED);
    await sql`DELETE FROM roster_block WHERE owner = 'tricia'`.execute(store.db);
    await sessions.bumpListTokens(["tricia", "arthur"]);
    assert.equal(only((await send({ to: "arthur" })).frames).flags, 1);
    assert.equal(edgeA.received.filter((d) => d.account === "marvin" || d.account === "ford").length, 0);
  });

  test("INVALID_CAPABILITY: not declared by the sending device, or not a valid value", async () => {
    for (const capability of [7, 0, 0x8000, 0xffff]) {
      const r = await send({ capability });
      assert.equal(errorCode(only(r.frames)), ImError.INVALID_CAPABILITY, String(capability));
    }
    // Declared by another of the sender's devices is not enough: it is this device's declaration.
    const r = await send({ capability: 1 }, { capabilities: [2] });
    assert.equal(errorCode(only(r.frames)), ImError.INVALID_CAPABILITY);
    assert.equal(edgeA.received.length + edgeB.received.length, 0);
  });

  test("without an offline store: SERVICE_UNAVAILABLE when no capable device is online, and when the edges deliver to nobody", async () => {
    // TYPING to nobody capable is answered as sent: it is never stored (offline.test.ts has the store).
    const noTyping = await send({ to: "zaphod", capability: Capability.TYPING });
    assert.equal(only(noTyping.frames).flags, 1);
    const offline = await send({ to: "trillian" });
    assert.equal(errorCode(only(offline.frames)), GlobalError.SERVICE_UNAVAILABLE);
    assert.equal(edgeA.received.length + edgeB.received.length, 0);

    edgeA.delivered = 0;
    edgeB.delivered = 0;
    const gone = await send();
    assert.equal(errorCode(only(gone.frames)), GlobalError.SERVICE_UNAVAILABLE);
    assert.deepEqual(forAccount(edgeB, "tricia"), [], "no copies of a message nobody got");

    // One edge delivering is enough.
    edgeB.delivered = 1;
    const some = await send();
    assert.equal(only(some.frames).flags, 1);
  });

  test("an edge that does not answer counts as delivering to nobody", async () => {
    edgeA.stop();
    edgeB.stop();
    const r = await send();
    assert.equal(errorCode(only(r.frames)), GlobalError.SERVICE_UNAVAILABLE);
  });

  test("field limits and missing TLVs", async () => {
    const cases: Array<[string, Buffer, number]> = [
      ["TO missing", sendBlock({ to: "" }), GlobalError.INVALID_TLV_VALUE],
      ["TO malformed", sendBlock({ to: "not an address" }), GlobalError.INVALID_TLV_VALUE],
      ["TO other domain", sendBlock({ to: "arthur@elsewhere.net" }), GlobalError.INVALID_TLV_VALUE],
      ["TO 65 chars", sendBlock({ to: "a".repeat(65) }), GlobalError.INVALID_TLV_VALUE],
      ["CAPABILITY missing", sendBlock({ capability: -1 }), GlobalError.INVALID_TLV_VALUE],
      ["MESSAGE_ID missing", sendBlock({ id: Buffer.alloc(0) }), GlobalError.INVALID_TLV_VALUE],
      ["MESSAGE_ID 17 bytes", sendBlock({ id: Buffer.alloc(17, 1) }), GlobalError.INVALID_TLV_VALUE],
      ["MESSAGE_SIZE over 1 MiB", sendBlock({ size: 1024 * 1024 + 1 }), GlobalError.INVALID_TLV_VALUE],
      [
        "MESSAGE_CHUNK over 64 KiB",
        sendBlock({ chunk: Buffer.alloc(64 * 1024 + 1) }),
        GlobalError.INVALID_TLV_VALUE,
      ],
      [
        "CAPABILITY as u32",
        Buffer.from(new TlvWriter().string(ImTlv.TO, "arthur").u32(ImTlv.CAPABILITY, 1).finish()),
        GlobalError.INVALID_TLV_LENGTH,
      ],
      [
        "MESSAGE_SIZE as u16",
        Buffer.from(
          new TlvWriter()
            .string(ImTlv.TO, "arthur")
            .u16(ImTlv.CAPABILITY, 1)
            .bytes(ImTlv.MESSAGE_ID, Buffer.from([1]))
            .u16(ImTlv.MESSAGE_SIZE, 1)
            .finish(),
        ),
        GlobalError.INVALID_TLV_LENGTH,
      ],
      [
        "CREATED_AT 4 bytes",
        Buffer.from(
          new TlvWriter()
            .string(ImTlv.TO, "arthur")
            .u16(ImTlv.CAPABILITY, 1)
            .bytes(ImTlv.MESSAGE_ID, Buffer.from([1]))
            .u32(ImTlv.CREATED_AT, 1)
            .finish(),
        ),
        GlobalError.INVALID_TLV_LENGTH,
      ],
      ["overrun", Buffer.from([0, 2, 0, 40, 0x61]), GlobalError.INVALID_TLV_LENGTH],
    ];
    for (const [what, block, code] of cases) {
      const r = await handleImRequest(request(block), deps);
      const f = only(r.frames);
      assert.deepEqual([f.flags, f.family, f.type, f.sequence], [4, 4, 3, 77], what);
      assert.equal(errorCode(f), code, what);
    }
    assert.equal(edgeA.received.length + edgeB.received.length, 0);
    // The largest values are fine, and MESSAGE_ID is echoed byte for byte.
    const id = Buffer.alloc(16, 0xab);
    const big = await send({ id, size: 1024 * 1024, chunk: Buffer.alloc(64 * 1024, 0x61) });
    assert.deepEqual(parse(only(big.frames).block).first(ImTlv.MESSAGE_ID), id);
    assert.equal(
      parse(only(forAccount(edgeB, "arthur")[0]!.frames).block).first(ImTlv.MESSAGE_CHUNK)?.length,
      64 * 1024,
    );
  });

  test("not bound is INVALID_STATE; another IM type is INVALID_TLV_VALUE", async () => {
    for (const over of [{ account: "" }, { device: "" }]) {
      assert.equal(errorCode(only((await send({}, over)).frames)), GlobalError.INVALID_STATE);
    }
    const r = await handleImRequest(request(Buffer.alloc(0), { type: 99 }), deps);
    assert.equal(errorCode(only(r.frames)), GlobalError.INVALID_TLV_VALUE);
  });

  test("a failing session store is SERVICE_UNAVAILABLE", async () => {
    await sessions.close();
    assert.equal(errorCode(only((await send()).frames)), GlobalError.SERVICE_UNAVAILABLE);
  });
});
