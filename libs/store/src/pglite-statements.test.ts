import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { MAX_NAMED_PARAMETERS, PreparedStatements } from "./pglite-statements.js";

/** The named statements the backend holds now (the protocol's ones are listed there too). */
async function prepared(pg: PGlite): Promise<string[]> {
  const r = await pg.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'impp_%' ORDER BY prepare_time",
  );
  return r.rows.map((row) => row.statement);
}

describe("PGlite prepared statements", () => {
  let pg: PGlite;
  before(async () => {
    pg = await PGlite.create();
    await pg.exec(`
      CREATE TABLE t (id int PRIMARY KEY, name text, tags text[], at timestamptz, big bigint, ok boolean, doc jsonb, raw bytea);
      INSERT INTO t (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three');`);
  });
  after(async () => {
    await pg.close();
  });
  // Each test's statements alone are listed (names are unique per process, so none collide).
  beforeEach(async () => {
    await pg.exec("DEALLOCATE ALL");
  });

  test("a text is parsed once and its statement reused; results match PGlite's own query()", async () => {
    const statements = new PreparedStatements(pg);
    const text = "SELECT id, name FROM t WHERE id = ANY($1) ORDER BY id";
    for (const ids of [[1], [2, 3], [3, 1, 2]]) {
      const ours = await statements.query(text, [ids]);
      const theirs = await pg.query(text, [ids]);
      assert.deepEqual(ours.rows, theirs.rows);
      assert.deepEqual(ours.fields, theirs.fields);
    }
    assert.deepEqual(await prepared(pg), [text], "one named statement for three runs");
    assert.equal(statements.size, 1);
  });

  test("parameters and results of every kind our tables use round-trip as PGlite's query() does", async () => {
    const statements = new PreparedStatements(pg);
    const row = [
      10,
      "zehn",
      ["a", 'b"c', "d,e"],
      new Date("2026-01-02T03:04:05.678Z"),
      2n ** 60n,
      true,
      { k: [1, "x"] },
      new Uint8Array([0, 1, 255]),
    ];
    const insert =
      "INSERT INTO t (id, name, tags, at, big, ok, doc, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    const ours = await statements.query(insert, row);
    assert.equal(ours.affectedRows, 1);
    const nulls = [11, null, null, null, null, null, null, undefined];
    await statements.query(insert, nulls);
    const select = "SELECT * FROM t WHERE id = ANY($1) ORDER BY id";
    const read = await statements.query(select, [[10, 11]]);
    assert.deepEqual(read.rows, (await pg.query(select, [[10, 11]])).rows);
    const [ten, eleven] = read.rows as Record<string, unknown>[];
    assert.deepEqual(ten?.tags, ["a", 'b"c', "d,e"]);
    assert.deepEqual(ten?.at, new Date("2026-01-02T03:04:05.678Z"));
    assert.equal(ten?.big, 2n ** 60n);
    assert.deepEqual(ten?.doc, { k: [1, "x"] });
    assert.deepEqual(ten?.raw, new Uint8Array([0, 1, 255]));
    assert.equal(eleven?.name, null);
    const deleted = await statements.query("DELETE FROM t WHERE id >= $1", [10]);
    assert.equal(deleted.affectedRows, 2);
  });

  test("at most `limit` statements are kept: the least recently used is closed", async () => {
    const statements = new PreparedStatements(pg, 2);
    const a = "SELECT 1 AS n";
    const b = "SELECT 2 AS n";
    const c = "SELECT 3 AS n";
    await statements.query(a, []);
    await statements.query(b, []);
    await statements.query(a, []); // a is now the most recently used
    await statements.query(c, []);
    assert.deepEqual((await prepared(pg)).sort(), [a, c].sort(), "b was the least recently used");
    assert.deepEqual((await statements.query(b, [])).rows, [{ n: 2 }], "an evicted text is prepared again");
    assert.equal(statements.size, 2);
  });

  test("a query with more than MAX_NAMED_PARAMETERS parameters runs unnamed: nothing of it stays prepared", async () => {
    const statements = new PreparedStatements(pg);
    for (const n of [MAX_NAMED_PARAMETERS + 1, MAX_NAMED_PARAMETERS + 7]) {
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      const text = `SELECT count(*)::int AS n FROM t WHERE id IN (${ids.map((_, i) => `$${i + 1}`).join(", ")})`;
      assert.deepEqual((await statements.query(text, ids)).rows, [{ n: 3 }], "ids 1, 2 and 3 exist");
    }
    const atLimit = Array.from({ length: MAX_NAMED_PARAMETERS }, (_, i) => i + 1);
    const text = `SELECT count(*)::int AS n FROM t WHERE id IN (${atLimit.map((_, i) => `$${i + 1}`).join(", ")})`;
    assert.deepEqual((await statements.query(text, atLimit)).rows, [{ n: 3 }]);
    assert.deepEqual(await prepared(pg), [text], "only the one at the limit is kept");
    assert.equal(statements.size, 1);
  });

  test("an error is the database's, with the query; the statement and the session stay usable", async () => {
    const statements = new PreparedStatements(pg);
    const insert = "INSERT INTO t (id, name) VALUES ($1, $2)";
    await assert.rejects(
      statements.query(insert, [1, "dup"]),
      (e: Error & { code?: string; query?: string }) => {
        assert.equal(e.code, "23505", "unique violation");
        assert.equal(e.query, insert);
        return true;
      },
    );
    await assert.rejects(statements.query("SELEC nonsense", []), (e: Error & { code?: string }) => {
      assert.equal(e.code, "42601", "syntax error");
      return true;
    });
    // Inside a transaction: the error fails it; ROLLBACK ends it; nothing of it stays.
    await statements.query("BEGIN", []);
    await statements.query(insert, [20, "in tx"]);
    await assert.rejects(statements.query(insert, [1, "dup"]));
    await assert.rejects(statements.query("SELECT 1", []), /current transaction is aborted/);
    await statements.query("ROLLBACK", []);
    const left = await statements.query("SELECT count(*)::int AS n FROM t WHERE id = $1", [20]);
    assert.deepEqual(left.rows, [{ n: 0 }]);
    assert.equal((await statements.query(insert, [21, "after"])).affectedRows, 1);
    await statements.query("DELETE FROM t WHERE id = $1", [21]);
  });

  test("a table altered under a prepared statement: the text is prepared again, outside a transaction", async () => {
    const statements = new PreparedStatements(pg);
    await pg.exec("CREATE TABLE altered (id int)");
    await statements.query("INSERT INTO altered VALUES ($1)", [1]);
    const all = "SELECT * FROM altered";
    assert.deepEqual((await statements.query(all, [])).rows, [{ id: 1 }]);
    await pg.exec("ALTER TABLE altered ADD COLUMN note text DEFAULT 'n'");
    assert.deepEqual((await statements.query(all, [])).rows, [{ id: 1, note: "n" }]);
    // Inside a transaction the first run fails it (Postgres's rule); after ROLLBACK it works.
    await pg.exec("ALTER TABLE altered ADD COLUMN more int DEFAULT 7");
    await statements.query("BEGIN", []);
    await assert.rejects(statements.query(all, []), (e: Error & { code?: string }) => e.code === "0A000");
    await statements.query("ROLLBACK", []);
    assert.deepEqual((await statements.query(all, [])).rows, [{ id: 1, note: "n", more: 7 }]);
  });
});
