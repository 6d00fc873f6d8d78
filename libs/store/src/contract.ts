// The store's contract: the same suite runs on every backend (PGlite in memory,
// PGlite in a folder, real Postgres). Exported as @impp/store/contract; it
// imports node:test, so it is not part of the main entry. Features test their own
// tables with their own suites on the same backends (e.g. auth's accounts).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { StoreError } from "./errors.js";
import { type MigrationSet, runMigrations } from "./migrations.js";
import type { Store } from "./store.js";

/** Two features' migration sets, each in its own table, as real features declare them. */
export const probeSets = {
  notes: {
    table: "contract_notes_migration",
    list: [
      {
        name: "0001_notes",
        async up(db: Kysely<unknown>) {
          await sql`CREATE TABLE contract_notes (id int PRIMARY KEY, body text NOT NULL)`.execute(db);
        },
      },
      {
        name: "0002_notes_author",
        async up(db: Kysely<unknown>) {
          await sql`ALTER TABLE contract_notes ADD COLUMN author text`.execute(db);
        },
      },
    ],
  },
  tags: {
    table: "contract_tags_migration",
    list: [
      {
        name: "0001_tags",
        async up(db: Kysely<unknown>) {
          await sql`CREATE TABLE contract_tags (tag text PRIMARY KEY)`.execute(db);
        },
      },
    ],
  },
} satisfies Record<string, MigrationSet>;

async function count(db: Kysely<unknown>, table: string): Promise<number> {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(db);
  return Number(r.rows[0]?.n);
}

/** `make` must return a freshly opened store on an empty database (not yet migrated). */
export function runStoreContract(name: string, make: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let db: Kysely<unknown>;
    const { notes, tags } = probeSets;

    before(async () => {
      store = await make();
      db = store.db as Kysely<unknown>;
    });
    after(async () => {
      await store?.close();
    });

    test("migrate applies every migration of a set once, then nothing (idempotent)", async () => {
      const first = await store.migrate(notes);
      assert.deepEqual(
        first.applied,
        notes.list.map((m) => m.name),
      );
      assert.equal(first.current, "0002_notes_author");
      assert.deepEqual(first.unknown, []);
      const second = await store.migrate(notes);
      assert.deepEqual(second.applied, []);
      assert.equal(second.current, "0002_notes_author");
      await sql`INSERT INTO contract_notes (id, body, author) VALUES (1, 'x', 'y')`.execute(db);
    });

    test("each feature's set is recorded in its own table: one never sees the other's as unknown", async () => {
      const t = await store.migrate(tags);
      assert.deepEqual(t.applied, ["0001_tags"]);
      assert.deepEqual(t.unknown, []);
      const n = await store.migrate(notes);
      assert.deepEqual(n.unknown, [], "the tags migration is not the notes feature's business");
      assert.equal(await count(db, "contract_tags_migration"), 1);
      assert.equal(await count(db, "contract_notes_migration"), 2);
    });

    test("a malformed set is refused before anything runs", async () => {
      await assert.rejects(store.migrate({ table: "Bad Table", list: [] }), /plain lower-case identifier/);
      await assert.rejects(
        store.migrate({ table: "contract_bad", list: [{ name: "first", async up() {} }] }),
        /NNNN_what/,
      );
      await assert.rejects(
        store.migrate({
          table: "contract_bad",
          list: [
            { name: "0002_b", async up() {} },
            { name: "0001_a", async up() {} },
          ],
        }),
        /out of order/,
      );
    });

    test("ping answers", async () => {
      assert.equal(await store.ping(), true);
    });

    test("a rolled-back transaction leaves nothing, and work outside it neither joins nor sees it", async () => {
      const before = await count(db, "contract_tags");
      let outside: Promise<number> | undefined;
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await sql`INSERT INTO contract_tags (tag) VALUES ('in-trx')`.execute(trx);
          // Not awaited here: on PGlite it waits for the transaction to end.
          outside = count(db, "contract_tags");
          // Keep the transaction open across a few round trips so that a driver
          // sharing one session would run the outside query inside it.
          for (let i = 0; i < 3; i++) await count(trx, "contract_tags");
          throw new Error("roll back");
        }),
        /roll back/,
      );
      assert.equal(await outside, before);
      assert.equal(await count(db, "contract_tags"), before);
    });

    test("migrations recorded by a newer version are tolerated; missing ones are not", async () => {
      const newer: MigrationSet = {
        table: tags.table,
        list: [
          ...tags.list,
          {
            name: "9998_contract_probe",
            async up(d: Kysely<unknown>) {
              await sql`CREATE TABLE contract_probe (id int PRIMARY KEY)`.execute(d);
            },
          },
        ],
      };
      const ran = await runMigrations(db, newer);
      assert.deepEqual(ran.applied, ["9998_contract_probe"]);
      const old = await store.migrate(tags);
      assert.deepEqual(old.applied, []);
      assert.deepEqual(old.unknown, ["9998_contract_probe"]);
      assert.equal(old.current, "0001_tags");

      const lacking: MigrationSet = {
        table: tags.table,
        list: [...tags.list, { name: "9999_never_applied", async up() {} }],
      };
      await assert.rejects(
        runMigrations(db, lacking),
        (e: unknown) => e instanceof StoreError && e.kind === "SCHEMA_TOO_NEW",
      );

      const failing: MigrationSet = {
        table: tags.table,
        list: [
          ...newer.list,
          {
            name: "9999_broken",
            async up(d: Kysely<unknown>) {
              await sql`CREATE TABLE contract_probe (id int)`.execute(d);
            },
          },
        ],
      };
      await assert.rejects(
        runMigrations(db, failing),
        (e: unknown) =>
          e instanceof StoreError && e.kind === "MIGRATION_FAILED" && e.message.includes("9999_broken"),
      );
      // The failed migration was rolled back, not recorded.
      const again = await runMigrations(db, newer);
      assert.deepEqual(again.applied, []);
      assert.deepEqual(again.unknown, []);
    });

    test("close is idempotent and ping then says false", async () => {
      await store.close();
      await store.close();
      assert.equal(await store.ping(), false);
    });
  });
}

/**
 * Fresh, empty Postgres databases for a test file, dropped when its tests end (every feature's
 * Postgres suite and the test cluster use it, so runs never see each other's rows).
 */
export function freshDatabases(
  adminUrl = process.env.IMPP_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
): () => Promise<string> {
  const created: string[] = [];
  let admin: pg.Client | undefined;
  after(async () => {
    if (admin === undefined) return;
    for (const name of created) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });
  return async () => {
    if (admin === undefined) {
      admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
    }
    const name = `impp_test_${randomBytes(6).toString("hex")}`;
    await admin.query(`CREATE DATABASE "${name}"`);
    created.push(name);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
}
