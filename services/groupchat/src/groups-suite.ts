// The group repository on a real database: groups.test.ts runs it on PGlite, groups.dist.test.ts on
// Postgres (where concurrent sends to one group truly race).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import { GlobalError, GroupChatsError } from "@impp/protocol";
import { seedAccounts } from "@impp/roster/testing";
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { type Change, Groups, type StoredMessage } from "./groups.js";
import { groupMigrations } from "./tables.js";

function ok<T>(c: Change<T>): T {
  assert.ok(c.ok, c.ok ? "" : `refused: ${c.code.toString(16)} ${c.reason}`);
  const { ok: _, ...rest } = c as { ok: true } & T;
  return rest as T;
}
function code(c: Change<unknown>): number {
  assert.ok(!c.ok, "expected a refusal");
  return c.code;
}
async function all(gen: AsyncGenerator<StoredMessage[]>): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  for await (const page of gen) out.push(...page);
  return out;
}

export function runGroupsSuite(name: string, make: () => Promise<Store>): void {
  describe(`group repository: ${name}`, () => {
    let store: Store;
    let groups: Groups;
    let clock = 1_000_000;

    before(async () => {
      store = await make();
      await store.migrate(accountsMigrations);
      assert.deepEqual((await store.migrate(groupMigrations)).applied, ["0001_groups"]);
      await seedAccounts(store, ["ann", "bea", "cid", "dot", "eve", "fay"]);
      groups = new Groups(store, { maxMembers: 4, perUser: 3 }, () => clock);
    });
    after(() => store.close());

    test("create: the requester and members; again by a member changes nothing; the name is another's", async () => {
      const c = ok(await groups.create("crew", "ann", ["bea", "bea", "ann"]));
      assert.equal(c.created, true);
      assert.deepEqual(c.group, { name: "crew", members: ["ann", "bea"], timestamp: clock });
      const again = ok(await groups.create("crew", "bea", ["cid"]));
      assert.equal(again.created, false);
      assert.deepEqual(again.group.members, ["ann", "bea"]);
      assert.equal(code(await groups.create("crew", "cid", [])), GlobalError.INVALID_TLV_VALUE);
      assert.equal(code(await groups.create("other", "ann", ["nobody"])), GroupChatsError.MEMBER_NOT_CONTACT);
      assert.equal(
        code(await groups.create("other", "ann", ["bea"], ["bea"])),
        GroupChatsError.MEMBER_NOT_CONTACT,
      );
      assert.deepEqual((await groups.groupsOf("cid")).length, 0);
      assert.equal(
        code(await groups.create("big", "ann", ["bea", "cid", "dot", "eve"])),
        GlobalError.INVALID_STATE,
      );
      assert.deepEqual(
        (await groups.groupsOf("ann")).map((g) => g.name),
        ["crew"],
        "refused creations left nothing behind",
      );
    });

    test("add: member, exists, contact, limits; remove: leave, others, last one deletes the group and its history", async () => {
      assert.equal(
        code(await groups.add("crew", "cid", "dot", true)),
        GlobalError.INVALID_STATE,
        "not a member",
      );
      assert.equal(code(await groups.add("nope", "ann", "dot", true)), GlobalError.INVALID_STATE, "no group");
      assert.equal(
        code(await groups.add("crew", "ann", "bea", false)),
        GroupChatsError.MEMBER_ALREADY_EXISTS,
      );
      assert.equal(code(await groups.add("crew", "ann", "cid", false)), GroupChatsError.MEMBER_NOT_CONTACT);
      const added = ok(await groups.add("crew", "ann", "cid", true));
      assert.deepEqual(added.group.members, ["ann", "bea", "cid"]);
      ok(await groups.add("crew", "bea", "dot", true));
      assert.equal(code(await groups.add("crew", "ann", "eve", true)), GlobalError.INVALID_STATE, "full (4)");
      // fay in 3 groups already: the per-user limit.
      for (const g of ["f1", "f2", "f3"]) ok(await groups.create(g, "fay", []));
      ok(await groups.remove("crew", "ann", "dot"));
      assert.equal(
        code(await groups.add("crew", "ann", "fay", true)),
        GlobalError.INVALID_STATE,
        "fay is in 3",
      );
      assert.equal(code(await groups.create("f4", "fay", [])), GlobalError.INVALID_STATE);

      assert.equal(code(await groups.remove("crew", "eve", "ann")), GlobalError.INVALID_STATE);
      assert.equal(code(await groups.remove("crew", "ann", "eve")), GlobalError.INVALID_TLV_VALUE);
      const r = ok(await groups.remove("crew", "ann", "cid"));
      assert.deepEqual(r, { before: ["ann", "bea", "cid"], deleted: false });
      ok(await groups.send("crew", "bea", Buffer.from("bye")));
      ok(await groups.remove("crew", "ann", "ann"));
      assert.deepEqual(ok(await groups.remove("crew", "bea", "bea")), { before: ["bea"], deleted: true });
      assert.equal(
        (await sql`SELECT 1 FROM groupchat_messages WHERE group_name = 'crew'`.execute(store.db)).rows.length,
        0,
      );
      // The name is free again.
      ok(await groups.create("crew", "eve", []));
    });

    test("messages: strictly increasing timestamps even with a stuck clock; non-members refused; replay in stored order since joining", async () => {
      ok(await groups.create("chat", "ann", ["bea"]));
      clock += 10;
      const t1 = ok(await groups.send("chat", "ann", Buffer.from("one"))).ts;
      const t2 = ok(await groups.send("chat", "bea", Buffer.from("two"))).ts;
      assert.equal(t2, t1 + 1, "same millisecond: +1");
      assert.equal(code(await groups.send("chat", "cid", Buffer.from("x"))), GlobalError.INVALID_STATE);
      assert.equal(code(await groups.send("none", "ann", Buffer.from("x"))), GlobalError.INVALID_STATE);
      ok(await groups.add("chat", "ann", "cid", true));
      clock += 1000;
      const t3 = ok(await groups.send("chat", "cid", Buffer.from("three"))).ts;
      assert.equal(t3, clock);
      const forBea = await all(groups.history("bea", 0, 2));
      assert.deepEqual(
        forBea.map((m) => [m.ts, m.sender, m.body.toString()]),
        [
          [t1, "ann", "one"],
          [t2, "bea", "two"],
          [t3, "cid", "three"],
        ],
      );
      assert.deepEqual(
        (await all(groups.history("bea", t1))).map((m) => m.ts),
        [t2, t3],
      );
      assert.deepEqual(
        (await all(groups.history("cid", 0))).map((m) => m.ts),
        [t3],
        "only what was sent since cid joined",
      );
      const [chat] = (await groups.groupsOf("cid")).filter((g) => g.name === "chat");
      assert.equal(chat!.timestamp, t3, "the tuple's TIMESTAMP is the last message's");
    });

    test("concurrent sends to one group get distinct, increasing timestamps that commit in order", async () => {
      ok(await groups.create("race", "dot", ["eve"]));
      const sent = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          groups.send("race", i % 2 ? "dot" : "eve", Buffer.from(String(i))),
        ),
      );
      const ts = sent.map((s) => ok(s).ts);
      assert.equal(new Set(ts).size, 40);
      const replay = (await all(groups.history("dot", 0))).filter((m) => m.group === "race").map((m) => m.ts);
      assert.deepEqual(
        replay,
        [...ts].sort((a, b) => a - b),
      );
    });

    test("prune: old history goes, groups whose members' accounts were removed go", async () => {
      await seedAccounts(store, ["tmp"]);
      ok(await groups.create("lonely", "tmp", []));
      ok(await groups.send("lonely", "tmp", Buffer.from("x")));
      await sql`DELETE FROM accounts WHERE name = 'tmp'`.execute(store.db);
      const r = await groups.prune(clock + 1);
      assert.ok(r.messages > 0);
      assert.ok(r.groups >= 1);
      assert.equal(
        (await sql`SELECT 1 FROM groupchat_groups WHERE name = 'lonely'`.execute(store.db)).rows.length,
        0,
      );
    });
  });
}
