// End to end: avatars and group chats (PROTOCOL.md §4.6, §4.7) with the real client against a whole
// server — embedded, and distributed with users on different edges.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { befriend, type ImppClient, type ResponseFrame } from "@impp/client";
import {
  AvatarError,
  AvatarTlv,
  AvatarType,
  Family,
  GlobalError,
  GroupChatsError,
  GroupChatsTlv,
  GroupChatsType,
  ListsType,
  PresenceTlv,
  PresenceType,
  type TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import type { ClusterMode } from "../testing/cluster.js";
import { e2eHarness } from "./harness.js";
import { E2E_ENV } from "./suite.js";

const GIF = Buffer.from(
  "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b",
  "hex",
);
const png = (size = 500) =>
  Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(size - 8)]);
const sha1 = (b: Buffer) => createHash("sha1").update(b).digest();

const isGroup = (type: number) => (f: ResponseFrame) =>
  f.family === Family.GROUP_CHATS && f.type === type && f.isIndication;
const isPresenceOf = (name: string) => (f: ResponseFrame) =>
  f.family === Family.PRESENCE &&
  f.type === PresenceType.UPDATE &&
  f.isIndication &&
  f.tlvs.string(PresenceTlv.FROM) === name;
const tuples = (f: ResponseFrame) => {
  const all = f.tlvs.nestedAll(GroupChatsTlv.GROUP_CHAT_TUPLE);
  assert.ok(Array.isArray(all));
  return all.map((t: TlvBlock) => ({
    name: t.string(GroupChatsTlv.NAME),
    members: t.strings(GroupChatsTlv.MEMBER),
    timestamp: t.u64number(GroupChatsTlv.TIMESTAMP),
  }));
};
const text = (f: ResponseFrame) => f.tlvs.first(GroupChatsTlv.MESSAGE)?.toString("utf8");

export function groupsSuite(mode: ClusterMode): void {
  describe(`avatars and group chats (${mode})`, () => {
    const h = e2eHarness(mode, { ...E2E_ENV, IMPP_GROUP_MAX_MEMBERS: "5" });
    const { newUser, login } = h;
    const expectOk = (r: ResponseFrame, what: string) =>
      assert.equal(r.isError, false, `${what}: error ${r.errorCode}`);

    test("avatar: upload, SET tells a watcher on another edge, GET by anyone; the same image from two users is one", async () => {
      const [an, bn] = [await newUser("ava"), await newUser("wat")];
      const a = await login(an, 0);
      const b = await login(bn, 1);
      await befriend({ client: a, name: an }, { client: b, name: bn });
      const up = await a.uploadAvatar(GIF);
      expectOk(up, "UPLOAD");
      const hash = up.tlvs.first(AvatarTlv.AVATAR_SHA1)!;
      assert.deepEqual(hash, sha1(GIF));
      expectOk(await a.avatar(AvatarType.SET, hash), "SET");
      const update = await b.nextIndication(
        (f) => isPresenceOf(an)(f) && f.tlvs.first(PresenceTlv.AVATAR_SHA1)?.equals(hash) === true,
      );
      assert.ok(update);
      assert.deepEqual((await b.getPresence(an)).tlvs.first(PresenceTlv.AVATAR_SHA1), hash);
      const got = await b.avatar(AvatarType.GET, hash);
      expectOk(got, "GET");
      assert.deepEqual(got.tlvs.first(AvatarTlv.DATA), GIF);
      // bob uploads the very same bytes: the same hash, stored once, and he may show it too.
      const again = await b.uploadAvatar(Buffer.from(GIF));
      assert.deepEqual(again.tlvs.first(AvatarTlv.AVATAR_SHA1), hash);
      expectOk(await b.avatar(AvatarType.SET, hash), "SET by bob");
      // Clearing: the watcher sees no AVATAR_SHA1 any more.
      expectOk(await a.avatar(AvatarType.SET, Buffer.alloc(0)), "SET empty");
      await b.nextIndication((f) => isPresenceOf(an)(f) && !f.tlvs.has(PresenceTlv.AVATAR_SHA1));
      // GET with FROM/TO as one client sends it.
      const withAddresses = new TlvWriter()
        .string(AvatarTlv.FROM, bn)
        .string(AvatarTlv.TO, an)
        .bytes(AvatarTlv.AVATAR_SHA1, hash);
      expectOk(await b.request(Family.AVATAR, AvatarType.GET, withAddresses), "GET with FROM/TO");
    });

    test("avatar: hostile input gets the protocol's error and the session goes on", async () => {
      const a = await login(await newUser("bad"), 0);
      const code = async (type: number, w: TlvWriter) => (await a.request(Family.AVATAR, type, w)).errorCode;
      const data = (b: Buffer) => new TlvWriter(b.length + 8).bytes(AvatarTlv.DATA, b);
      const hash = (b: Buffer) => new TlvWriter().bytes(AvatarTlv.AVATAR_SHA1, b);
      assert.equal(await code(AvatarType.UPLOAD, data(Buffer.from("<svg/>"))), GlobalError.INVALID_TLV_VALUE);
      assert.equal(await code(AvatarType.UPLOAD, data(Buffer.alloc(0))), GlobalError.INVALID_TLV_VALUE);
      assert.equal(await code(AvatarType.UPLOAD, data(png(65_536))), GlobalError.INVALID_TLV_VALUE);
      assert.equal(await code(AvatarType.UPLOAD, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
      const unknown = sha1(randomBytes(8));
      assert.equal(await code(AvatarType.SET, hash(unknown)), AvatarError.AVATAR_NOT_FOUND);
      assert.equal(await code(AvatarType.GET, hash(unknown)), AvatarError.AVATAR_NOT_FOUND);
      assert.equal(await code(AvatarType.GET, hash(Buffer.alloc(7))), GlobalError.INVALID_TLV_LENGTH);
      assert.equal(await code(AvatarType.SET, hash(Buffer.alloc(7))), GlobalError.INVALID_TLV_LENGTH);
      assert.equal(await code(AvatarType.GET, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
      assert.equal(await code(42, new TlvWriter()), GlobalError.INVALID_TLV_VALUE);
      const big = await a.uploadAvatar(png(65_535));
      expectOk(big, "the largest avatar");
      expectOk(await a.ping(), "PING");
    });

    test("groups: create with an online contact, add an offline one; non-contacts and blocked refused; messages reach every member and my other device; the offline member catches up in order", async () => {
      const [an, bn, cn, dn, en] = [
        await newUser("own"),
        await newUser("onl"),
        await newUser("off"),
        await newUser("str"),
        await newUser("blk"),
      ];
      const a = await login(an, 0, "desk");
      const a2 = await login(an, 1, "phone");
      const b = await login(bn, 1);
      const c0 = await login(cn, 0);
      const e = await login(en, 1);
      await befriend({ client: a, name: an }, { client: b, name: bn });
      await befriend({ client: a, name: an }, { client: c0, name: cn });
      await befriend({ client: a, name: an }, { client: e, name: en });
      expectOk(await e.lists(ListsType.BLOCK_ADD, an), "BLOCK_ADD");
      await c0.close();
      const group = `crew-${randomBytes(3).toString("hex")}`;

      // A stranger or a blocked contact as initial member: refused, nothing created.
      const refused = await a.groupRequest(GroupChatsType.SET, { name: group, members: [bn, dn] });
      assert.equal(refused.errorCode, GroupChatsError.MEMBER_NOT_CONTACT);
      assert.equal(
        (await a.groupRequest(GroupChatsType.SET, { name: group, members: [en] })).errorCode,
        GroupChatsError.MEMBER_NOT_CONTACT,
      );
      const created = await a.groupRequest(GroupChatsType.SET, { name: group, members: [bn] });
      expectOk(created, "SET");
      assert.deepEqual(tuples(created)[0]!.members, [an, bn]);
      const joined = await b.nextIndication(isGroup(GroupChatsType.MEMBER_ADD));
      assert.equal(joined.tlvs.u8(GroupChatsTlv.INITIAL), 1);
      assert.equal(tuples(joined)[0]!.name, group);
      await a2.nextIndication(isGroup(GroupChatsType.MEMBER_ADD));
      // The name is mine now; SET again by a member is accepted and changes nothing.
      assert.equal(
        (await e.groupRequest(GroupChatsType.SET, { name: group })).errorCode,
        GlobalError.INVALID_TLV_VALUE,
      );
      expectOk(await b.groupRequest(GroupChatsType.SET, { name: group }), "SET by a member");

      // MEMBER_ADD: the offline contact is added; strangers and blocked refused; twice is exists.
      const add = (c: ImppClient, member: string) =>
        c.groupRequest(GroupChatsType.MEMBER_ADD, { name: group, members: [member] });
      assert.equal((await add(a, dn)).errorCode, GroupChatsError.MEMBER_NOT_CONTACT);
      assert.equal((await add(a, en)).errorCode, GroupChatsError.MEMBER_NOT_CONTACT, "blocked");
      assert.equal((await add(e, an)).errorCode, GlobalError.INVALID_STATE, "not a member");
      expectOk(await add(a, cn), "MEMBER_ADD offline");
      assert.equal((await add(a, cn)).errorCode, GroupChatsError.MEMBER_ALREADY_EXISTS);
      const told = await b.nextIndication(isGroup(GroupChatsType.MEMBER_ADD));
      assert.equal(told.tlvs.string(GroupChatsTlv.FROM), an);
      assert.equal(told.tlvs.string(GroupChatsTlv.MEMBER), cn);

      // Messages: to every member's devices, my other device included, in the order sent.
      const stamps: number[] = [];
      for (const m of ["one", "two", "three"]) {
        const r = await a.sendGroupMessage(group, m);
        expectOk(r, "MESSAGE_SEND");
        stamps.push(r.tlvs.u64number(GroupChatsTlv.TIMESTAMP) as number);
      }
      const r4 = await b.sendGroupMessage(group, "four");
      stamps.push(r4.tlvs.u64number(GroupChatsTlv.TIMESTAMP) as number);
      assert.deepEqual(
        [...stamps].sort((x, y) => x - y),
        stamps,
        "strictly increasing",
      );
      assert.equal(new Set(stamps).size, 4);
      for (const [who, expect] of [
        [b, ["one", "two", "three"]],
        [a2, ["one", "two", "three", "four"]],
      ] as const) {
        const got: string[] = [];
        for (const _ of expect)
          got.push(text(await who.nextIndication(isGroup(GroupChatsType.MESSAGE_SEND)))!);
        assert.deepEqual(got, expect);
      }
      const four = await a.nextIndication(isGroup(GroupChatsType.MESSAGE_SEND));
      assert.equal(four.tlvs.string(GroupChatsTlv.FROM), bn);
      assert.equal(text(four), "four");
      assert.equal(four.tlvs.u64number(GroupChatsTlv.TIMESTAMP), stamps[3]);
      assert.equal(four.tlvs.has(GroupChatsTlv.INITIAL), false);

      // The offline member logs in: GET lists the group, GET + TIMESTAMP replays in stored order.
      const c = await login(cn, 1);
      const list = await c.groupRequest(GroupChatsType.GET);
      expectOk(list, "GET");
      assert.deepEqual(
        tuples(list).map((t) => t.name),
        [group],
      );
      assert.deepEqual(tuples(list)[0]!.members, [an, bn, cn]);
      assert.equal(tuples(list)[0]!.timestamp, stamps[3]);
      expectOk(await c.groupRequest(GroupChatsType.GET, { timestamp: stamps[0]! }), "GET + TIMESTAMP");
      const replay: ResponseFrame[] = [];
      for (let i = 0; i < 3; i++) replay.push(await c.nextIndication(isGroup(GroupChatsType.MESSAGE_SEND)));
      assert.deepEqual(replay.map(text), ["two", "three", "four"]);
      assert.ok(replay.every((f) => f.tlvs.u8(GroupChatsTlv.INITIAL) === 1));
      assert.deepEqual(
        replay.map((f) => f.tlvs.u64number(GroupChatsTlv.TIMESTAMP)),
        stamps.slice(1),
      );

      // Leave: everyone is told, the leaver included; the leaver can no longer send.
      expectOk(await c.groupRequest(GroupChatsType.MEMBER_REMOVE, { name: group, members: [cn] }), "leave");
      for (const who of [a, b]) {
        const left = await who.nextIndication(isGroup(GroupChatsType.MEMBER_REMOVE));
        assert.equal(left.tlvs.string(GroupChatsTlv.MEMBER), cn);
      }
      assert.equal((await c.sendGroupMessage(group, "hello?")).errorCode, GlobalError.INVALID_STATE);
      // a removes b; then a leaves last: the group is gone, its name free.
      expectOk(
        await a.groupRequest(GroupChatsType.MEMBER_REMOVE, { name: group, members: [bn] }),
        "remove b",
      );
      assert.equal(
        (await b.nextIndication(isGroup(GroupChatsType.MEMBER_REMOVE))).tlvs.string(GroupChatsTlv.MEMBER),
        bn,
      );
      expectOk(
        await a.groupRequest(GroupChatsType.MEMBER_REMOVE, { name: group, members: [an] }),
        "last leaves",
      );
      assert.deepEqual(tuples(await a.groupRequest(GroupChatsType.GET)), []);
      expectOk(await b.groupRequest(GroupChatsType.SET, { name: group }), "the name is free again");
    });

    test("groups: hostile input for every type; the empty MESSAGE_SEND probe is answered empty", async () => {
      const an = await newUser("hos");
      const a = await login(an, 0);
      const probe = await a.request(Family.GROUP_CHATS, GroupChatsType.MESSAGE_SEND);
      expectOk(probe, "empty MESSAGE_SEND");
      assert.equal(probe.block.length, 0);
      expectOk(await a.groupRequest(GroupChatsType.GET), "GET, no groups");
      const code = async (type: number, w: TlvWriter | Buffer) =>
        (await a.request(Family.GROUP_CHATS, type, w)).errorCode;
      const T = GroupChatsType;
      const g = (r: Parameters<ImppClient["groupRequest"]>[1]) => {
        const w = new TlvWriter();
        if (r?.name !== undefined) w.string(GroupChatsTlv.NAME, r.name);
        for (const m of r?.members ?? []) w.string(GroupChatsTlv.MEMBER, m);
        if (r?.message !== undefined) w.bytes(GroupChatsTlv.MESSAGE, Buffer.from(r.message));
        return w;
      };
      assert.equal(await code(T.SET, g({})), GlobalError.INVALID_TLV_VALUE, "no NAME");
      assert.equal(
        await code(T.SET, g({ name: "x".repeat(65) })),
        GlobalError.INVALID_TLV_VALUE,
        "long NAME",
      );
      assert.equal(await code(T.SET, g({ name: "" })), GlobalError.INVALID_TLV_VALUE, "empty NAME");
      assert.equal(
        await code(T.SET, new TlvWriter().bytes(GroupChatsTlv.NAME, Buffer.from([0xff, 0xfe]))),
        GlobalError.INVALID_TLV_VALUE,
        "not UTF-8",
      );
      assert.equal(
        await code(T.SET, g({ name: "ok", members: ["not valid!"] })),
        GroupChatsError.MEMBER_NOT_CONTACT,
      );
      assert.equal(
        await code(T.SET, g({ name: "ok", members: ["nobody-here"] })),
        GroupChatsError.MEMBER_NOT_CONTACT,
      );
      assert.equal(
        await code(T.GET, new TlvWriter().bytes(GroupChatsTlv.TIMESTAMP, Buffer.alloc(3))),
        GlobalError.INVALID_TLV_LENGTH,
      );
      assert.equal(await code(T.MEMBER_ADD, g({ name: "nope" })), GlobalError.INVALID_TLV_VALUE, "no MEMBER");
      assert.equal(await code(T.MEMBER_ADD, g({ name: "nope", members: [an] })), GlobalError.INVALID_STATE);
      assert.equal(
        await code(T.MEMBER_REMOVE, g({ members: [an] })),
        GlobalError.INVALID_TLV_VALUE,
        "no NAME",
      );
      assert.equal(
        await code(T.MEMBER_REMOVE, g({ name: "nope", members: [an] })),
        GlobalError.INVALID_STATE,
      );
      assert.equal(
        await code(T.MESSAGE_SEND, g({ name: "nope" })),
        GlobalError.INVALID_TLV_VALUE,
        "no MESSAGE",
      );
      assert.equal(
        await code(T.MESSAGE_SEND, g({ message: "hi" })),
        GlobalError.INVALID_TLV_VALUE,
        "no NAME",
      );
      assert.equal(await code(T.MESSAGE_SEND, g({ name: "nope", message: "hi" })), GlobalError.INVALID_STATE);
      const mine = `mine-${randomBytes(3).toString("hex")}`;
      expectOk(await a.groupRequest(T.SET, { name: mine }), "SET alone");
      assert.equal(
        await code(T.MESSAGE_SEND, g({ name: mine, message: "x".repeat(64 * 1024 + 1) })),
        GlobalError.INVALID_TLV_VALUE,
        "over 64 KiB",
      );
      expectOk(await a.sendGroupMessage(mine, "x".repeat(64 * 1024)), "64 KiB exactly");
      assert.equal(await code(T.MESSAGE_SEND, Buffer.from([0, 2, 0, 9, 1])), GlobalError.INVALID_TLV_LENGTH);
      assert.equal(await code(99, g({})), GlobalError.INVALID_TLV_VALUE, "unknown type");
      // A forged FROM is ignored: the message is mine.
      const forged = g({ name: mine, message: "me" }).string(GroupChatsTlv.FROM, "zaphod");
      expectOk(await a.request(Family.GROUP_CHATS, T.MESSAGE_SEND, forged), "forged FROM");
      expectOk(await a.ping(), "the session goes on");
    });

    test("groups: the member limit (IMPP_GROUP_MAX_MEMBERS = 5 here)", async () => {
      const an = await newUser("lim");
      const a = await login(an, 0);
      const friends: string[] = [];
      for (let i = 0; i < 5; i++) {
        const n = await newUser("fr");
        const c = await login(n, i);
        await befriend({ client: a, name: an }, { client: c, name: n });
        friends.push(n);
      }
      const name = `full-${randomBytes(3).toString("hex")}`;
      assert.equal(
        (await a.groupRequest(GroupChatsType.SET, { name, members: friends })).errorCode,
        GlobalError.INVALID_STATE,
      );
      expectOk(
        await a.groupRequest(GroupChatsType.SET, { name, members: friends.slice(0, 4) }),
        "SET with 4",
      );
      assert.equal(
        (await a.groupRequest(GroupChatsType.MEMBER_ADD, { name, members: [friends[4]!] })).errorCode,
        GlobalError.INVALID_STATE,
      );
    });
  });
}
