import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { freshDatabases, probeSets, runStoreContract } from "./contract.js";
import { StoreError } from "./errors.js";
import { openStore } from "./store.js";

const adminUrl = process.env.IMPP_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const freshDatabase = freshDatabases(adminUrl);

runStoreContract("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 4 }));

describe("Postgres specifics", () => {
  test("two processes migrating a fresh database at once both succeed, each migration applied once", async () => {
    const url = await freshDatabase();
    // Separate pools stand in for separate processes: separate sessions, same database.
    const [a, b] = await Promise.all([openStore({ databaseUrl: url }), openStore({ databaseUrl: url })]);
    try {
      const { notes } = probeSets;
      const [ra, rb] = await Promise.all([a.migrate(notes), b.migrate(notes)]);
      const all = [...ra.applied, ...rb.applied].sort();
      assert.deepEqual(all, notes.list.map((m) => m.name).sort());
      assert.equal(ra.current, notes.list.at(-1)!.name);
      assert.equal(rb.current, notes.list.at(-1)!.name);
      await sql`INSERT INTO contract_notes (id, body) VALUES (1, 'after the race')`.execute(a.db);
      const row = await sql<{ body: string }>`SELECT body FROM contract_notes WHERE id = 1`.execute(b.db);
      assert.equal(row.rows[0]?.body, "after the race");
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("unreachable server → CONNECT_FAILED naming the host, never the password", async () => {
    await assert.rejects(
      openStore({ databaseUrl: "postgres://impp:hunter2secret@127.0.0.1:1/impp", connectTimeoutMs: 2000 }),
      (e: unknown) => {
        assert.ok(e instanceof StoreError);
        assert.equal(e.kind, "CONNECT_FAILED");
        assert.match(e.message, /127\.0\.0\.1:1\/impp as impp/);
        assert.doesNotMatch(e.message, /hunter2secret/);
        return true;
      },
    );
  });

  test("a database that does not exist → CONNECT_FAILED", async () => {
    const u = new URL(adminUrl);
    u.pathname = `/impp_missing_${randomBytes(4).toString("hex")}`;
    await assert.rejects(
      openStore({ databaseUrl: u.toString() }),
      (e: unknown) =>
        e instanceof StoreError && e.kind === "CONNECT_FAILED" && /does not exist/.test(e.message),
    );
  });

  test("ping turns false after close, and the pool is released", async () => {
    const s = await openStore({ databaseUrl: await freshDatabase() });
    assert.equal(await s.ping(), true);
    await s.close();
    assert.equal(await s.ping(), false);
  });
});
