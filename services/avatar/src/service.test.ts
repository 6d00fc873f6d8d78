// The avatar module on the bus with PGlite, the in-process live store and fake edges: every request
// type, its errors, the presence update SET causes, and that a popular GET is served from memory.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import { type Bus, createMemoryBus, decodeReply, encodeRequest, isEnvelopeError, subjects } from "@impp/bus";
import {
  AvatarError,
  AvatarTlv,
  AvatarType,
  Family,
  GlobalError,
  PresenceTlv,
  PresenceType,
  TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import { rosterMigrations } from "@impp/roster";
import { befriend, seedAccounts } from "@impp/roster/testing";
import { type ServedModule, startModule } from "@impp/service-kit";
import {
  errorCode,
  type FakeEdge,
  fakeEdge,
  only,
  requestBuilder,
  testConfig,
} from "@impp/service-kit/testing";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { createTelemetry, type Telemetry } from "@impp/telemetry";
import { sha1Of } from "./avatars.js";
import { type AvatarModuleState, avatarModule } from "./module.js";
import { avatarMigrations } from "./tables.js";
import { fakePng, GIF } from "./testing-images.js";

const request = requestBuilder({
  family: Family.AVATAR,
  type: AvatarType.GET,
  account: "ann",
  device: "laptop",
});

describe("avatar service", () => {
  let bus: Bus;
  let sessions: SessionStore;
  let telemetry: Telemetry;
  let store: Store;
  let served: ServedModule<AvatarModuleState>;
  let edgeB: FakeEdge;

  before(async () => {
    bus = createMemoryBus();
    sessions = createMemorySessionStore();
    telemetry = createTelemetry({ serviceName: "avatar-test", logLevel: "silent" });
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    await store.migrate(rosterMigrations);
    await store.migrate(avatarMigrations);
    await seedAccounts(store, ["ann", "bea", "cid"]);
    await befriend(store, "ann", "bea", sessions);
    fakeEdge(bus, "edge-a");
    edgeB = fakeEdge(bus, "edge-b");
    for (const [account, edgeId] of [
      ["ann", "edge-a"],
      ["bea", "edge-b"],
    ] as const) {
      const r = await sessions.bindDevice(
        {
          account,
          edgeId,
          connId: `c-${account}`,
          remoteAddress: "192.0.2.1",
          connectedAt: 1,
          status: 1,
          capabilities: [1],
          isIdle: false,
          isMobile: false,
          isStatusAutomatic: false,
        },
        "laptop",
        10,
      );
      assert.ok(r.ok);
    }
    served = await startModule(avatarModule, {
      bus,
      sessions,
      store,
      config: testConfig({ IMPP_AVATAR_CACHE_BYTES: "100000", IMPP_AVATAR_SWEEP_MS: "0" }),
      telemetry,
    });
  });
  after(async () => {
    await served.stop();
    await store.close();
    await bus.close();
    await sessions.close();
    await telemetry.shutdown();
  });

  async function call(type: number, body: TlvWriter | Buffer, account = "ann") {
    const block = Buffer.isBuffer(body) ? body : body.finish();
    const msg = await bus.request(
      subjects.request(Family.AVATAR),
      encodeRequest(request(block, { type, account })),
      { timeoutMs: 5000 },
    );
    const reply = decodeReply(msg.data);
    if (isEnvelopeError(reply)) throw reply;
    await served.idle();
    return only(reply.frames);
  }
  const tlvs = (f: { block: Buffer }) => TlvBlock.parse(f.block, Family.AVATAR) as TlvBlock;
  const upload = (data: Buffer) =>
    call(AvatarType.UPLOAD, new TlvWriter(data.length + 8).bytes(AvatarTlv.DATA, data));
  const sha = (b: Buffer) => new TlvWriter().bytes(AvatarTlv.AVATAR_SHA1, b);

  test("UPLOAD answers the server's SHA-1; SET tells watchers; GET serves the image; clearing tells them too", async () => {
    const up = await upload(GIF);
    assert.equal(up.flags, 1);
    assert.deepEqual(tlvs(up).first(AvatarTlv.AVATAR_SHA1), sha1Of(GIF));

    const seen = edgeB.received.length;
    const set = await call(AvatarType.SET, sha(sha1Of(GIF)));
    assert.equal(set.flags, 1);
    assert.equal(set.block.length, 0, "an empty response");
    const [presence] = await sessions.getPresence(["ann"]);
    assert.equal(presence?.avatarSha1, sha1Of(GIF).toString("hex"));
    const update = edgeB.received.slice(seen).find((d) => d.account === "bea");
    assert.ok(update, "bea's edge got a PRESENCE UPDATE");
    const f = only(update.frames);
    assert.deepEqual([f.family, f.type], [Family.PRESENCE, PresenceType.UPDATE]);
    const p = TlvBlock.parse(f.block, Family.PRESENCE) as TlvBlock;
    assert.equal(p.string(PresenceTlv.FROM), "ann");
    assert.deepEqual(p.first(PresenceTlv.AVATAR_SHA1), sha1Of(GIF));

    // GET with FROM/TO as one client sends them: ignored.
    const get = await call(
      AvatarType.GET,
      new TlvWriter()
        .string(AvatarTlv.FROM, "bea")
        .string(AvatarTlv.TO, "ann")
        .bytes(AvatarTlv.AVATAR_SHA1, sha1Of(GIF)),
      "bea",
    );
    assert.deepEqual(tlvs(get).first(AvatarTlv.AVATAR_SHA1), sha1Of(GIF));
    assert.deepEqual(tlvs(get).first(AvatarTlv.DATA), GIF);

    const n = edgeB.received.length;
    assert.equal((await call(AvatarType.SET, sha(Buffer.alloc(0)))).flags, 1);
    assert.equal((await sessions.getPresence(["ann"]))[0]?.avatarSha1, undefined);
    const cleared = only(edgeB.received[n]!.frames);
    assert.equal(
      (TlvBlock.parse(cleared.block, Family.PRESENCE) as TlvBlock).has(PresenceTlv.AVATAR_SHA1),
      false,
    );
  });

  test("a popular avatar is one database read per process, then memory", async () => {
    const img = fakePng(4000);
    const sha1 = tlvs(await upload(img)).first(AvatarTlv.AVATAR_SHA1)!;
    served.started.state.cache.delete(sha1.toString("hex"));
    const misses = served.started.state.cache.misses;
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => call(AvatarType.GET, sha(sha1), "bea")),
    );
    assert.ok(answers.every((a) => a.flags === 1));
    assert.equal(served.started.state.cache.misses - misses, 1);
    assert.ok(served.started.state.cache.bytes <= 100_000);
  });

  test("errors: not an image, too large, unknown hash, bad hash length, missing TLVs, unknown type", async () => {
    const code = async (type: number, body: TlvWriter | Buffer) => errorCode(await call(type, body));
    assert.equal(
      await code(AvatarType.UPLOAD, new TlvWriter().bytes(AvatarTlv.DATA, Buffer.from("hello"))),
      GlobalError.INVALID_TLV_VALUE,
    );
    assert.equal(
      await code(AvatarType.UPLOAD, new TlvWriter().bytes(AvatarTlv.DATA, Buffer.alloc(0))),
      GlobalError.INVALID_TLV_VALUE,
    );
    assert.equal(
      await code(AvatarType.UPLOAD, new TlvWriter(70_000).bytes(AvatarTlv.DATA, fakePng(65_536), true)),
      GlobalError.INVALID_TLV_VALUE,
    );
    assert.equal(await code(AvatarType.UPLOAD, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
    const unknown = sha1Of(Buffer.from("nope"));
    assert.equal(await code(AvatarType.SET, sha(unknown)), AvatarError.AVATAR_NOT_FOUND);
    assert.equal(await code(AvatarType.GET, sha(unknown)), AvatarError.AVATAR_NOT_FOUND);
    assert.equal(await code(AvatarType.SET, sha(Buffer.alloc(5))), GlobalError.INVALID_TLV_LENGTH);
    assert.equal(await code(AvatarType.SET, sha(Buffer.alloc(21))), GlobalError.INVALID_TLV_VALUE);
    assert.equal(await code(AvatarType.GET, sha(Buffer.alloc(19))), GlobalError.INVALID_TLV_LENGTH);
    assert.equal(await code(AvatarType.GET, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
    assert.equal(await code(AvatarType.SET, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
    assert.equal(await code(9, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
    assert.equal(
      await code(AvatarType.GET, Buffer.from([0, 3, 0, 20, 1])),
      GlobalError.INVALID_TLV_LENGTH,
      "an overrun",
    );
  });

  test("the module's sweep removes an unused image and drops it from the cache", async () => {
    const img = fakePng(300);
    const sha1 = tlvs(await upload(img)).first(AvatarTlv.AVATAR_SHA1)!;
    assert.ok(served.started.state.cache.peek(sha1.toString("hex")));
    assert.ok((await served.started.state.sweep(-60_000)) >= 1);
    assert.equal(served.started.state.cache.peek(sha1.toString("hex")), undefined);
    assert.equal(errorCode(await call(AvatarType.GET, sha(sha1))), AvatarError.AVATAR_NOT_FOUND);
    // ann's (cleared) and bea's avatars: whatever is in use stays.
    const mine = tlvs(await upload(fakePng(300))).first(AvatarTlv.AVATAR_SHA1)!;
    assert.equal((await call(AvatarType.SET, sha(mine), "cid")).flags, 1);
    await served.started.state.sweep(-60_000);
    assert.equal((await call(AvatarType.GET, sha(mine))).flags, 1);
  });
});
