import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { runStoreContract } from "./contract.js";
import { StoreError } from "./errors.js";
import { migrations } from "./migrations.js";
import { openStore } from "./store.js";

const adminUrl = process.env.IMPP_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const created: string[] = [];
let admin: pg.Client;

before(async () => {
  admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
});
after(async () => {
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
});

/** A new empty database; dropped when the file's tests end. */
async function freshDatabase(): Promise<string> {
  const name = `impp_test_${randomBytes(6).toString("hex")}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  created.push(name);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

runStoreContract("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 4 }));

describe("Postgres specifics", () => {
  test("two processes migrating a fresh database at once both succeed, each migration applied once", async () => {
    const url = await freshDatabase();
    // Separate pools stand in for separate processes: separate sessions, same database.
    const [a, b] = await Promise.all([openStore({ databaseUrl: url }), openStore({ databaseUrl: url })]);
    try {
      const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
      const all = [...ra.applied, ...rb.applied].sort();
      assert.deepEqual(all, migrations.map((m) => m.name).sort());
      assert.equal(ra.current, migrations.at(-1)!.name);
      assert.equal(rb.current, migrations.at(-1)!.name);
      const made = await a.accounts.create("after-race", "h");
      assert.ok(!(made instanceof StoreError));
      assert.equal((await b.accounts.find("after-race"))?.name, "after-race");
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
