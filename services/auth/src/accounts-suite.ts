// The accounts repository on every backend the store runs on (PGlite in memory, Postgres):
// accounts.test.ts and accounts.dist.test.ts run this one suite.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Store, StoreError, tablesOf } from "@impp/store";
import {
  type AccountsRepository,
  type AccountsTables,
  accountsMigrations,
  createAccountsRepository,
} from "./accounts.js";

/** `make` must return a freshly opened store on an empty database. */
export function runAccountsSuite(name: string, make: () => Promise<Store>): void {
  describe(`accounts: ${name}`, () => {
    let store: Store;
    let accounts: AccountsRepository;

    before(async () => {
      store = await make();
      const report = await store.migrate(accountsMigrations);
      assert.deepEqual(report.applied, ["0001_accounts"]);
      accounts = createAccountsRepository(store);
    });
    after(async () => {
      await store?.close();
    });

    test("create returns the stored account", async () => {
      const a = await accounts.create("alice", "hash-a");
      assert.ok(!(a instanceof StoreError), String(a));
      assert.equal(a.name, "alice");
      assert.equal(a.passwordHash, "hash-a");
      assert.equal(a.disabled, false);
      assert.ok(a.createdAt instanceof Date && !Number.isNaN(a.createdAt.getTime()));
      assert.ok(
        Math.abs(a.createdAt.getTime() - Date.now()) < 24 * 3600_000,
        "created_at is a current timestamp",
      );
    });

    test("find is case-insensitive and rejects malformed names", async () => {
      const found = await accounts.find("ALICE");
      assert.equal(found?.name, "alice");
      assert.equal(found?.passwordHash, "hash-a");
      assert.equal((await accounts.find("aLiCe"))?.name, "alice");
      assert.equal(await accounts.find("nobody"), undefined);
      assert.equal(await accounts.find("alice@example.com"), undefined, "no domain handling in the store");
      assert.equal(await accounts.find("al ice"), undefined);
      assert.equal(await accounts.find(""), undefined);
    });

    test("duplicate create → ACCOUNT_EXISTS, original untouched", async () => {
      const dup = await accounts.create("alice", "other-hash");
      assert.ok(dup instanceof StoreError);
      assert.equal(dup.kind, "ACCOUNT_EXISTS");
      assert.equal((await accounts.find("alice"))?.passwordHash, "hash-a");
    });

    test("concurrent creates of one name: exactly one wins", async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => accounts.create("race", `h${i}`)),
      );
      const won = results.filter((r) => !(r instanceof StoreError));
      const lost = results.filter((r) => r instanceof StoreError);
      assert.equal(won.length, 1);
      assert.equal(lost.length, 7);
      for (const e of lost) assert.equal((e as StoreError).kind, "ACCOUNT_EXISTS");
    });

    test("create refuses names that are not canonical", async () => {
      for (const bad of ["Alice", "", "a".repeat(65), "al ice", "bob@example.com", "ünï", "\u212Aelvin"]) {
        const r = await accounts.create(bad, "h");
        assert.ok(r instanceof StoreError, `accepted ${JSON.stringify(bad)}`);
        assert.equal(r.kind, "ACCOUNT_NAME_INVALID");
      }
      const max = await accounts.create("m".repeat(64), "h");
      assert.ok(!(max instanceof StoreError));
      assert.equal(await accounts.remove("m".repeat(64)), true);
    });

    test("the table itself rejects non-canonical names (CHECK constraint)", async () => {
      await assert.rejects(
        tablesOf<AccountsTables>(store)
          .insertInto("accounts")
          .values({ name: "Upper", password_hash: "h" })
          .execute(),
        /check constraint/i,
      );
    });

    test("setPasswordHash and setDisabled update one account; unknown → false", async () => {
      assert.equal(await accounts.setPasswordHash("ALICE", "hash-a2"), true);
      assert.equal((await accounts.find("alice"))?.passwordHash, "hash-a2");
      assert.equal((await accounts.find("race"))?.passwordHash.startsWith("h"), true, "others untouched");
      assert.equal(await accounts.setPasswordHash("nobody", "x"), false);
      assert.equal(await accounts.setDisabled("alice", true), true);
      assert.equal((await accounts.find("alice"))?.disabled, true);
      assert.equal(await accounts.setDisabled("alice", false), true);
      assert.equal((await accounts.find("alice"))?.disabled, false);
      assert.equal(await accounts.setDisabled("nobody", true), false);
    });

    test("remove deletes once", async () => {
      const made = await accounts.create("gone", "h");
      assert.ok(!(made instanceof StoreError));
      assert.equal(await accounts.remove("GONE"), true);
      assert.equal(await accounts.find("gone"), undefined);
      assert.equal(await accounts.remove("gone"), false);
      assert.equal(await accounts.remove("bad name"), false);
    });

    test("list pages by name in byte order with a keyset cursor; count agrees", async () => {
      // Punctuation sorts differently under locale collations; byte order must hold everywhere.
      const names = ["b-x", "b.x", "b0", "b_x", "ba", "bz", "c"];
      for (const n of [...names].reverse()) {
        const r = await accounts.create(n, `hash-${n}`);
        assert.ok(!(r instanceof StoreError), String(r));
      }
      const all = await accounts.list({ limit: 1000 });
      const allNames = all.map((a) => a.name);
      assert.deepEqual(
        allNames,
        [...allNames].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
      );
      for (const n of names) assert.ok(allNames.includes(n));
      assert.equal(await accounts.count(), all.length);

      const paged: string[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 100; guard++) {
        const page = await accounts.list({ limit: 2, ...(after === undefined ? {} : { after }) });
        assert.ok(page.length <= 2);
        if (page.length === 0) break;
        paged.push(...page.map((a) => a.name));
        after = page.at(-1)!.name;
      }
      assert.deepEqual(paged, allNames);

      const fromB = await accounts.list({ after: "b", limit: 3 });
      assert.deepEqual(
        fromB.map((a) => a.name),
        ["b-x", "b.x", "b0"],
      );
      assert.equal(fromB[0]?.passwordHash, "hash-b-x");
      assert.equal((await accounts.list({ limit: 0 })).length, 1, "limit is clamped to at least 1");
      assert.deepEqual(await accounts.list({ after: "zzzz" }), []);
    });

    test("count follows create and remove", async () => {
      const before = await accounts.count();
      const r = await accounts.create("counted", "h");
      assert.ok(!(r instanceof StoreError));
      assert.equal(await accounts.count(), before + 1);
      await accounts.remove("counted");
      assert.equal(await accounts.count(), before);
    });

    test("a rolled-back transaction leaves nothing, and work outside it neither joins nor sees it", async () => {
      const before = await accounts.count();
      let outside: Promise<number> | undefined;
      await assert.rejects(
        tablesOf<AccountsTables>(store)
          .transaction()
          .execute(async (trx) => {
            await trx.insertInto("accounts").values({ name: "in-trx", password_hash: "h" }).execute();
            // Not awaited here: on PGlite it waits for the transaction to end.
            outside = accounts.count();
            // Keep the transaction open across a few round trips so that a driver
            // sharing one session would run the outside query inside it.
            for (let i = 0; i < 3; i++) await trx.selectFrom("accounts").select("name").execute();
            throw new Error("roll back");
          }),
        /roll back/,
      );
      assert.equal(await outside, before);
      assert.equal(await accounts.find("in-trx"), undefined);
      assert.equal(await accounts.count(), before);
    });
  });
}
