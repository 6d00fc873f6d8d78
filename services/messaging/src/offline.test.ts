// Offline messaging through the IM handlers (PGlite in memory, the real repository): store before
// ok, the bounce path, OFFLINE_MESSAGES_GET / DELETE, block limit, caps, hostile input.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { accountsMigrations, createAccountsRepository } from "@impp/auth";
import { type Bus, createMemoryBus, type RequestEnvelope } from "@impp/bus";
import { Capability, Family, GlobalError, ImError, ImTlv, ImType, TlvBlock, TlvWriter } from "@impp/protocol";
import { RelationsCache, rosterMigrations } from "@impp/roster";
import { befriend } from "@impp/roster/testing";
import { errorCode, type FakeEdge, fakeEdge, handlerFor, only, testConfig } from "@impp/service-kit/testing";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { createMetrics, createTelemetry, Registry } from "@impp/telemetry";
import { messagingModule } from "./module.js";
import { createOffline } from "./offline.js";
import { createOfflineRepository, offlineMigrations } from "./offline-store.js";
import type { MessagingDeps } from "./send.js";
import { bindDevice as bindOn, request } from "./test-support.js";

const NOW = 1_700_000_000_500;

function parse(b: Uint8Array): TlvBlock {
  const r = TlvBlock.parse(Buffer.from(b), Family.IM);
  if (!(r instanceof TlvBlock)) throw r;
  return r;
}

function sendBlock(
  to: string,
  text: string,
  opts: { id?: Buffer; capability?: number; size?: number } = {},
): Buffer {
  const chunk = Buffer.from(text);
  return Buffer.from(
    new TlvWriter()
      .string(ImTlv.TO, to)
      .u16(ImTlv.CAPABILITY, opts.capability ?? Capability.IM)
      .bytes(ImTlv.MESSAGE_ID, opts.id ?? Buffer.from(text.slice(0, 16).padEnd(1, "x")))
      .u32(ImTlv.MESSAGE_SIZE, opts.size ?? chunk.length)
      .bytes(ImTlv.MESSAGE_CHUNK, chunk)
      .u64(ImTlv.CREATED_AT, 1_699_999_999_000)
      .finish(),
  );
}

interface Tuple {
  from: string;
  to: string;
  capability: number;
  id: Buffer;
  size: number;
  chunk: string;
  createdAt: number;
  timestamp: number;
}

function tuples(block: Uint8Array): { list: Tuple[]; newest: number | undefined; raw: TlvBlock } {
  const b = parse(block);
  const nested = b.nestedAll(ImTlv.OFFLINE_MESSAGE);
  if (!Array.isArray(nested)) throw nested;
  const list = nested.map((t) => ({
    from: t.string(ImTlv.FROM) as string,
    to: t.string(ImTlv.TO) as string,
    capability: t.u16(ImTlv.CAPABILITY) as number,
    id: t.first(ImTlv.MESSAGE_ID)!,
    size: t.u32(ImTlv.MESSAGE_SIZE) as number,
    chunk: t.first(ImTlv.MESSAGE_CHUNK)!.toString(),
    createdAt: t.u64number(ImTlv.CREATED_AT) as number,
    timestamp: t.u64number(ImTlv.TIMESTAMP) as number,
  }));
  const newest = b.u64number(ImTlv.TIMESTAMP);
  if (typeof newest === "object") throw newest;
  return { list, newest, raw: b };
}

describe("offline messages through the IM handlers", () => {
  let store: Store;
  let bus: Bus;
  let sessions: SessionStore;
  let edge: FakeEdge;
  let deps: MessagingDeps;
  let clock = NOW;
  let n = 0;

  const config = testConfig({ IMPP_DOMAIN: "example.org", IMPP_OFFLINE_MAX_MESSAGES: "50" });
  const handle = (req: RequestEnvelope, d: MessagingDeps = deps) =>
    handlerFor(messagingModule, Family.IM, d, d.config)(req);
  /** tricia's laptop (IM + TYPING) sends. */
  const send = (to: string, text: string, opts: Parameters<typeof sendBlock>[2] = {}, over = {}) =>
    handle(request(sendBlock(to, text, opts), over));
  const get = (account: string, capabilities: number[] = [1, 2], d?: MessagingDeps) =>
    handle(
      request(Buffer.alloc(0), { type: ImType.OFFLINE_MESSAGES_GET, account, device: "pc", capabilities }),
      d,
    );
  const del = (account: string, ts: number | Buffer, capabilities: number[] = [1, 2]) => {
    const block =
      typeof ts === "number" ? Buffer.from(new TlvWriter().u64(ImTlv.TIMESTAMP, ts).finish()) : ts;
    return handle(
      request(block, { type: ImType.OFFLINE_MESSAGES_DELETE, account, device: "pc", capabilities }),
    );
  };
  const bind = (account: string, name: string, capabilities: number[]) =>
    bindOn(sessions, account, name, "edge-a", capabilities);
  let user: (prefix: string) => Promise<string>;

  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    await store.migrate(offlineMigrations);
    const accounts = createAccountsRepository(store);
    await store.migrate(rosterMigrations);
    await accounts.create("tricia", "h");
    // Every new user is tricia's contact: only contacts may be messaged (§4.4).
    user = async (prefix) => {
      const name = `${prefix}${n++}`;
      await accounts.create(name, "h");
      await befriend(store, "tricia", name);
      return name;
    };
  });
  after(async () => {
    await store.close();
  });
  beforeEach(async () => {
    bus = createMemoryBus();
    sessions = createMemorySessionStore();
    edge = fakeEdge(bus, "edge-a");
    clock += 1000;
    deps = {
      bus,
      sessions,
      relations: new RelationsCache(store),
      config,
      now: () => clock,
      offline: createOffline(createOfflineRepository(store), config.offline),
    };
    await bind("tricia", "laptop", [1, 2]);
  });

  test("an empty store answers an empty GET (empty block) with an empty, successful response", async () => {
    const arthur = await user("arthur");
    const f = only((await get(arthur)).frames);
    assert.deepEqual(
      [f.flags, f.family, f.type, f.sequence],
      [1, Family.IM, ImType.OFFLINE_MESSAGES_GET, 77],
    );
    assert.equal(f.block.length, 0);
  });

  test("store before ok: to nobody online the response is a normal one, and GET returns the message", async () => {
    const arthur = await user("arthur");
    await bind("tricia", "tablet", [1]);
    const r = await send(arthur, "are you there?", { id: Buffer.from([9, 9]) });
    const f = only(r.frames);
    assert.equal(f.flags, 1);
    const resp = parse(f.block);
    assert.deepEqual(resp.first(ImTlv.MESSAGE_ID), Buffer.from([9, 9]));
    assert.equal(resp.u64number(ImTlv.TIMESTAMP), clock);
    // A stored message is copied to the sender's other devices like a delivered one.
    assert.equal(edge.received.filter((d) => d.account === "tricia").length, 1);

    const got = tuples(only((await get(arthur)).frames).block);
    assert.deepEqual(got.list, [
      {
        from: "tricia",
        to: arthur,
        capability: 1,
        id: Buffer.from([9, 9]),
        size: 14,
        chunk: "are you there?",
        createdAt: 1_699_999_999_000,
        timestamp: clock,
      },
    ]);
    assert.equal(got.newest, clock);
    // The tuple's TLVs are in the documented order.
    const order = got.raw.nestedAll(ImTlv.OFFLINE_MESSAGE);
    assert.ok(Array.isArray(order));
    assert.deepEqual(
      order[0]!.tlvs.map((t) => t.type),
      [
        ImTlv.FROM,
        ImTlv.TO,
        ImTlv.CAPABILITY,
        ImTlv.MESSAGE_ID,
        ImTlv.MESSAGE_SIZE,
        ImTlv.MESSAGE_CHUNK,
        ImTlv.CREATED_AT,
        ImTlv.TIMESTAMP,
      ],
    );
  });

  test("TYPING to an offline user is answered without storing; a device without the capability does not count", async () => {
    const arthur = await user("arthur");
    const typing = await handle(
      request(
        Buffer.from(
          new TlvWriter()
            .string(ImTlv.TO, arthur)
            .u16(ImTlv.CAPABILITY, 2)
            .bytes(ImTlv.MESSAGE_ID, Buffer.from([1]))
            .bytes(ImTlv.MESSAGE_CHUNK, Buffer.from([0, 2]))
            .finish(),
        ),
      ),
    );
    assert.equal(only(typing.frames).flags, 1);
    assert.equal(only((await get(arthur)).frames).block.length, 0);
    await bind(arthur, "toaster", [Capability.TYPING]);
    assert.equal(only((await send(arthur, "stored anyway")).frames).flags, 1);
    assert.equal(tuples(only((await get(arthur)).frames).block).list.length, 1);
  });

  test("the bounce path: a delivery that reaches nobody is stored, and the copies still follow", async () => {
    const arthur = await user("arthur");
    await bind(arthur, "phone", [1]);
    await bind("tricia", "tablet", [1]);
    edge.delivered = 0;
    const r = await send(arthur, "left just now");
    assert.equal(only(r.frames).flags, 1, "ok: the message is stored");
    assert.equal(tuples(only((await get(arthur)).frames).block).list[0]?.chunk, "left just now");
    // An edge that does not answer at all is the same.
    edge.stop();
    const r2 = await send(arthur, "edge died");
    assert.equal(only(r2.frames).flags, 1);
    assert.deepEqual(
      tuples(only((await get(arthur)).frames).block).list.map((t) => t.chunk),
      ["left just now", "edge died"],
    );
  });

  test("GET and DELETE are capability-based: a device gets and deletes only what it declared", async () => {
    const arthur = await user("arthur");
    const ext = 0x4001;
    await send(arthur, "text one");
    await send(arthur, "ink", { capability: ext }, { capabilities: [1, 2, ext] });
    await send(arthur, "text two");
    const imOnly = tuples(only((await get(arthur, [1])).frames).block);
    assert.deepEqual(
      imOnly.list.map((t) => t.chunk),
      ["text one", "text two"],
    );
    const both = tuples(only((await get(arthur, [1, ext])).frames).block);
    assert.deepEqual(
      both.list.map((t) => t.chunk),
      ["text one", "ink", "text two"],
    );
    assert.equal(both.newest, both.list[2]!.timestamp);

    // DELETE up to the newest returned to the IM-only device keeps the extension message.
    assert.equal(only((await del(arthur, imOnly.newest!, [1])).frames).flags, 1);
    assert.deepEqual(
      tuples(only((await get(arthur, [1, ext])).frames).block).list.map((t) => t.chunk),
      ["ink"],
    );
    await del(arthur, both.newest!, [1, ext]);
    assert.equal(only((await get(arthur, [1, ext])).frames).block.length, 0);
  });

  test("a response never exceeds the block limit: the oldest that fit, the rest after DELETE", async () => {
    const small = testConfig({ IMPP_DOMAIN: "example.org", IMPP_MAX_BLOCK: "70000" });
    const d: MessagingDeps = { ...deps, config: small };
    const arthur = await user("arthur");
    const chunk = "x".repeat(30_000);
    for (let i = 0; i < 5; i++) {
      const r = await handle(request(sendBlock(arthur, `${i}${chunk}`, { id: Buffer.from([i]) })), d);
      assert.equal(only(r.frames).flags, 1);
    }
    const seen: string[] = [];
    for (let round = 0; round < 5 && seen.length < 5; round++) {
      const f = only((await get(arthur, [1], d)).frames);
      assert.ok(f.block.length <= 70_000, `block of ${f.block.length} bytes`);
      const got = tuples(f.block);
      assert.equal(got.list.length, Math.min(2, 5 - seen.length));
      seen.push(...got.list.map((t) => t.chunk[0]!));
      await del(arthur, got.newest!, [1]);
    }
    assert.deepEqual(seen, ["0", "1", "2", "3", "4"]);
    // A message that could never come back in one response under this limit is refused, not stored.
    const tooBig = await handle(request(sendBlock(arthur, "y".repeat(65_500))), {
      ...d,
      config: testConfig({ IMPP_DOMAIN: "example.org", IMPP_MAX_BLOCK: "65536" }),
    });
    assert.equal(errorCode(only(tooBig.frames)), GlobalError.SERVICE_UNAVAILABLE);
  });

  test("past the per-recipient cap the sender gets SERVICE_UNAVAILABLE and nothing stored is dropped", async () => {
    const arthur = await user("arthur");
    for (let i = 0; i < 50; i++) {
      assert.equal(only((await send(arthur, `m${i}`, { id: Buffer.from([i]) })).frames).flags, 1);
    }
    const refused = await send(arthur, "one too many", { id: Buffer.from([200]) });
    assert.equal(errorCode(only(refused.frames)), GlobalError.SERVICE_UNAVAILABLE);
    const got = tuples(only((await get(arthur)).frames).block);
    assert.equal(got.list.length, 50);
    assert.equal(got.list[0]!.chunk, "m0");
    await del(arthur, got.newest!);
    assert.equal(only((await send(arthur, "room again", { id: Buffer.from([201]) })).frames).flags, 1);
  });

  test("a resend of the same MESSAGE_ID is answered ok and stored once", async () => {
    const arthur = await user("arthur");
    const id = Buffer.from("resend-me");
    const first = await send(arthur, "hello", { id });
    clock += 5;
    const again = await send(arthur, "hello", { id });
    assert.equal(only(again.frames).flags, 1);
    assert.equal(
      parse(only(again.frames).block).u64number(ImTlv.TIMESTAMP),
      parse(only(first.frames).block).u64number(ImTlv.TIMESTAMP),
      "the stored copy's TIMESTAMP",
    );
    assert.equal(tuples(only((await get(arthur)).frames).block).list.length, 1);
  });

  test("the offline metrics: a stored message counts once (a resend does not), a DELETE counts what it removed", async () => {
    const telemetry = createTelemetry({
      serviceName: "offline-metrics-test",
      logLevel: "silent",
      metrics: createMetrics(new Registry(), { processMetrics: false }),
    });
    deps = { ...deps, telemetry };
    const value = async (name: string) =>
      (await telemetry.metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
    const arthur = await user("arthur");
    const id = Buffer.from("count-me");
    await send(arthur, "one", { id });
    await send(arthur, "one", { id });
    clock += 5;
    const second = await send(arthur, "two");
    assert.equal(await value("impp_offline_stored_total"), 2);
    assert.equal(await value("impp_offline_delivered_total"), 0);
    await del(arthur, parse(only(second.frames).block).u64number(ImTlv.TIMESTAMP) as number);
    assert.equal(await value("impp_offline_delivered_total"), 2);
    await telemetry.shutdown();
  });

  test("a long message in several chunks with one MESSAGE_ID is stored and returned as those chunks", async () => {
    const arthur = await user("arthur");
    const id = Buffer.from([7, 7, 7, 7]);
    for (const part of ["first part, ", "second part, ", "end"]) {
      assert.equal(only((await send(arthur, part, { id, size: 28 })).frames).flags, 1);
    }
    const got = tuples(only((await get(arthur)).frames).block).list;
    assert.deepEqual(
      got.map((t) => [t.chunk, t.size, t.id]),
      [
        ["first part, ", 28, id],
        ["second part, ", 28, id],
        ["end", 28, id],
      ],
    );
  });

  test("to an account that does not exist: USERNAME_NOT_CONTACT (no account can be a contact), nothing stored", async () => {
    const r = await send("nosuchuser", "hello?");
    assert.equal(errorCode(only(r.frames)), ImError.USERNAME_NOT_CONTACT);
    assert.equal(edge.received.length, 0, "no copies of a message that went nowhere");
  });

  test("hostile input: DELETE without TIMESTAMP, with a bad one; GET/DELETE before bind", async () => {
    const arthur = await user("arthur");
    assert.equal(errorCode(only((await del(arthur, Buffer.alloc(0))).frames)), GlobalError.INVALID_TLV_VALUE);
    const short = Buffer.from(new TlvWriter().u32(ImTlv.TIMESTAMP, 1).finish());
    assert.equal(errorCode(only((await del(arthur, short)).frames)), GlobalError.INVALID_TLV_LENGTH);
    const huge = Buffer.from(new TlvWriter().u64(ImTlv.TIMESTAMP, 0xffffffffffffffffn).finish());
    assert.equal(errorCode(only((await del(arthur, huge)).frames)), GlobalError.INVALID_TLV_VALUE);
    assert.equal(
      errorCode(only((await del(arthur, Buffer.from([0, 8, 0, 50, 1]))).frames)),
      GlobalError.INVALID_TLV_LENGTH,
    );
    for (const type of [ImType.OFFLINE_MESSAGES_GET, ImType.OFFLINE_MESSAGES_DELETE]) {
      const r = await handle(request(Buffer.alloc(0), { type, account: arthur, device: "" }));
      assert.equal(errorCode(only(r.frames)), GlobalError.INVALID_STATE);
    }
    // A GET block with anything in it is read as empty (unknown TLVs are ignored, §2.2).
    const noisy = await handle(
      request(Buffer.from(new TlvWriter().string(ImTlv.FROM, "x").finish()), {
        type: ImType.OFFLINE_MESSAGES_GET,
        account: arthur,
      }),
    );
    assert.equal(only(noisy.frames).flags, 1);
  });

  test("a failing store is SERVICE_UNAVAILABLE for that request, never an ok", async () => {
    const arthur = await user("arthur");
    const broken = await openStore({ memory: true });
    await broken.close();
    const d: MessagingDeps = {
      ...deps,
      offline: createOffline(createOfflineRepository(broken), config.offline),
    };
    assert.equal(
      errorCode(only((await handle(request(sendBlock(arthur, "x")), d)).frames)),
      GlobalError.SERVICE_UNAVAILABLE,
    );
    assert.equal(errorCode(only((await get(arthur, [1], d)).frames)), GlobalError.SERVICE_UNAVAILABLE);
  });
});
