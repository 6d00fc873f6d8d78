// The lists' write side and read side on a real database: lists.test.ts runs it on PGlite,
// lists.dist.test.ts on Postgres (where the concurrency cases run truly concurrently).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import { ListsError } from "@impp/protocol";
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { type Change, Lists } from "./lists.js";
import { loadRelations } from "./relations.js";
import { rosterMigrations } from "./tables.js";
import { seedAccounts } from "./testing.js";

const LIMIT = 3;

function ok<T>(c: Change<T>): T {
  assert.ok(c.ok, c.ok ? "" : `refused: ${c.code.toString(16)} ${c.reason}`);
  const { ok: _, ...rest } = c as { ok: true } & T;
  return rest as T;
}
function code(c: Change<unknown>): number {
  assert.ok(!c.ok, "expected a refusal");
  return c.code;
}

export function runListsSuite(name: string, make: () => Promise<Store>): void {
  describe(`roster lists: ${name}`, () => {
    let store: Store;
    let lists: Lists;
    const rel = async (who: string) => (await loadRelations(store, [who]))[0]!;

    before(async () => {
      store = await make();
      await store.migrate(accountsMigrations);
      const r = await store.migrate(rosterMigrations);
      assert.deepEqual(r.applied, ["0001_relations"]);
      await seedAccounts(store, [
        "ann",
        "bea",
        "cid",
        "dot",
        "eve",
        "fay",
        "gus",
        "hal",
        "ivy",
        "jon",
        "kim",
      ]);
      lists = new Lists(store, { limit: LIMIT });
    });
    after(() => store.close());

    test("add files a request; approve lets the requester see; one-way until the other approves", async () => {
      assert.deepEqual(ok(await lists.contactAdd("ann", "bea", "Bea!")), {
        authRequested: true,
        approved: false,
      });
      assert.deepEqual([...(await rel("bea")).pending], ["ann"]);
      assert.deepEqual([...(await rel("ann")).contacts], [["bea", "Bea!"]]);
      assert.deepEqual(ok(await lists.approve("bea", "ann")), { changed: true });
      const ann = await rel("ann");
      const bea = await rel("bea");
      assert.ok(ann.approvedBy.has("bea"), "ann may see bea");
      assert.ok(bea.approved.has("ann"));
      assert.equal(bea.pending.size, 0);
      assert.equal(ann.approved.size, 0, "bea may not see ann yet");
      // A second approve changes nothing and says so.
      assert.deepEqual(ok(await lists.approve("bea", "ann")), { changed: false });
      // bea adds ann: ann's approval is still needed.
      assert.deepEqual(ok(await lists.contactAdd("bea", "ann", "")), {
        authRequested: true,
        approved: false,
      });
      // ann adding bea again: exists.
      assert.equal(code(await lists.contactAdd("ann", "bea", "")), ListsError.ADDRESS_EXISTS);
    });

    test("errors: oneself, unknown account, blocked, limit, not there", async () => {
      assert.equal(code(await lists.contactAdd("cid", "cid", "")), ListsError.ADDRESS_CONFLICT);
      assert.equal(code(await lists.contactAdd("cid", "nobody", "")), ListsError.ADDRESS_INVALID);
      assert.equal(code(await lists.add("block", "cid", "cid")), ListsError.ADDRESS_CONFLICT);
      assert.equal(code(await lists.add("allow", "cid", "cid")), ListsError.ADDRESS_CONFLICT);
      ok(await lists.add("block", "cid", "dot"));
      assert.equal(code(await lists.add("block", "cid", "dot")), ListsError.ADDRESS_EXISTS);
      assert.equal(
        code(await lists.contactAdd("cid", "dot", "")),
        ListsError.ADDRESS_CONFLICT,
        "blocked by me",
      );
      for (const t of ["eve", "fay"]) ok(await lists.add("block", "cid", t));
      assert.equal(code(await lists.add("block", "cid", "gus")), ListsError.LIST_LIMIT_EXCEEDED);
      assert.equal(code(await lists.remove("block", "cid", "gus")), ListsError.ADDRESS_DOES_NOT_EXIST);
      ok(await lists.remove("block", "cid", "fay"));
      ok(await lists.add("block", "cid", "gus"));
      assert.equal(code(await lists.contactRemove("cid", "hal")), ListsError.ADDRESS_DOES_NOT_EXIST);
      assert.equal(code(await lists.approve("cid", "hal")), ListsError.ADDRESS_DOES_NOT_EXIST);
      assert.equal(code(await lists.deny("cid", "hal")), ListsError.ADDRESS_DOES_NOT_EXIST);
      assert.equal(code(await lists.authRequest("cid", "hal")), ListsError.ADDRESS_DOES_NOT_EXIST);
      for (const t of ["hal", "ivy", "jon"]) ok(await lists.contactAdd("cid", t, ""));
      assert.equal(code(await lists.contactAdd("cid", "kim", "")), ListsError.LIST_LIMIT_EXCEEDED);
    });

    test("a blocked user's request is silently not filed; blocking drops a pending request", async () => {
      // dot is blocked by cid: adding cid files nothing with cid.
      assert.deepEqual(ok(await lists.contactAdd("dot", "cid", "")), {
        authRequested: false,
        approved: false,
      });
      assert.equal((await rel("cid")).pending.size, 0);
      ok(await lists.contactAdd("kim", "hal", ""));
      assert.ok((await rel("hal")).pending.has("kim"));
      ok(await lists.add("block", "hal", "kim"));
      assert.equal((await rel("hal")).pending.has("kim"), false);
      const kim = await rel("kim");
      assert.ok(kim.blockedBy.has("hal"));
    });

    test("remove withdraws my request and revokes my approval; deny drops the request", async () => {
      ok(await lists.contactAdd("eve", "fay", ""));
      ok(await lists.contactAdd("fay", "eve", ""));
      ok(await lists.approve("eve", "fay"));
      assert.ok((await rel("fay")).approvedBy.has("eve"));
      assert.deepEqual(ok(await lists.contactRemove("eve", "fay")), { revoked: true });
      const fay = await rel("fay");
      assert.equal(fay.approvedBy.has("eve"), false, "fay no longer sees eve");
      assert.equal(fay.pending.has("eve"), false, "eve's request to fay withdrawn");
      ok(await lists.contactAdd("gus", "ivy", ""));
      ok(await lists.deny("ivy", "gus"));
      assert.equal((await rel("ivy")).pending.has("gus"), false);
      assert.deepEqual(ok(await lists.authRequest("gus", "ivy")), { filed: true });
      assert.ok((await rel("ivy")).pending.has("gus"));
    });

    test("two users adding each other at once, approve racing remove, double approve: consistent", async () => {
      await seedAccounts(store, ["r1", "r2", "r3", "r4"]);
      const [x, y] = await Promise.all([lists.contactAdd("r1", "r2", ""), lists.contactAdd("r2", "r1", "")]);
      ok(x);
      ok(y);
      assert.ok((await rel("r1")).pending.has("r2"));
      assert.ok((await rel("r2")).pending.has("r1"));
      // Approve racing remove: whichever commits first, the end state has no approval without a
      // matching state: either r2 approved r1 and r1 no longer lists r2 (r2 still approved r1 — the
      // approval is r2's to revoke), or the request was withdrawn before the approve found it.
      const [approved, removed] = await Promise.all([
        lists.approve("r2", "r1"),
        lists.contactRemove("r1", "r2"),
      ]);
      ok(removed);
      const r1 = await rel("r1");
      const r2 = await rel("r2");
      assert.equal(r1.contacts.has("r2"), false);
      assert.equal(r2.pending.has("r1"), false, "no request left behind");
      if (approved.ok) assert.ok(r2.approved.has("r1"));
      else assert.equal(approved.code, ListsError.ADDRESS_DOES_NOT_EXIST);
      // Double approve at once: exactly one approval row.
      ok(await lists.contactAdd("r3", "r4", ""));
      const both = await Promise.all([lists.approve("r4", "r3"), lists.approve("r4", "r3")]);
      assert.ok(both.every((c) => c.ok));
      assert.equal(both.filter((c) => c.ok && c.changed).length, 1);
      const rows = await sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM roster_approvals WHERE owner = 'r4'`.execute(store.db);
      assert.equal(rows.rows[0]!.n, 1);
    });

    test("the tables refuse what the rules refuse: oneself, duplicates, unknown accounts; a removed account's rows go", async () => {
      await assert.rejects(
        sql`INSERT INTO roster_block (owner, address) VALUES ('ann', 'ann')`.execute(store.db),
      );
      await assert.rejects(
        sql`INSERT INTO roster_block (owner, address) VALUES ('ann', 'ghost')`.execute(store.db),
      );
      await assert.rejects(
        sql`INSERT INTO roster_contacts (owner, contact) VALUES ('ann', 'bea')`.execute(store.db),
      );
      await seedAccounts(store, ["gone"]);
      ok(await lists.contactAdd("gone", "ann", ""));
      ok(await lists.add("allow", "ann", "gone"));
      await sql`DELETE FROM accounts WHERE name = 'gone'`.execute(store.db);
      const ann = await rel("ann");
      assert.equal(ann.pending.has("gone"), false);
      assert.equal(ann.allow.has("gone"), false);
    });
  });
}
