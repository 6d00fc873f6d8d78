import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { sql } from "kysely";
import { probeSets, runStoreContract } from "./contract.js";
import { StoreError } from "./errors.js";
import { openStore, PGLITE_LOCK_FILE } from "./store.js";

const tmp = mkdtempSync(path.join(tmpdir(), "impp-store-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

runStoreContract("PGlite in memory", async () => openStore({ memory: true }));
runStoreContract("PGlite in a data folder", async () => openStore({ dataDir: path.join(tmp, "contract") }));

/** Runs openStore in a separate process and returns what it printed: "OK" or the StoreError kind. */
function openInChild(dataDir: string): Promise<string> {
  const entry = new URL("./index.js", import.meta.url).href;
  const script = `
    const { openStore } = await import(${JSON.stringify(entry)});
    try { const s = await openStore({ dataDir: ${JSON.stringify(dataDir)} }); await s.close(); console.log("OK"); }
    catch (e) { console.log(e.kind ?? e.message); }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", () => resolve(out.trim()));
  });
}

describe("PGlite data folder", () => {
  const dir = path.join(tmp, "persist");

  test("data survives close and reopen; the folder is locked while open", async () => {
    const first = await openStore({ dataDir: dir });
    assert.equal(first.kind, "pglite");
    assert.ok(existsSync(path.join(dir, PGLITE_LOCK_FILE)));
    await first.migrate(probeSets.notes);
    await sql`INSERT INTO contract_notes (id, body) VALUES (7, 'keeper')`.execute(first.db);

    // Same process, second open: refused before PGlite ever touches the folder.
    await assert.rejects(openStore({ dataDir: dir }), (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.equal(e.kind, "DATA_DIR_LOCKED");
      assert.match(e.message, /server is running/);
      return true;
    });
    // Another process: refused too.
    assert.equal(await openInChild(dir), "DATA_DIR_LOCKED");

    await first.close();
    assert.equal(existsSync(path.join(dir, PGLITE_LOCK_FILE)), false, "close removes the lock");

    const second = await openStore({ dataDir: dir });
    try {
      const report = await second.migrate(probeSets.notes);
      assert.deepEqual(report.applied, [], "schema persisted");
      const kept = await sql<{ body: string }>`SELECT body FROM contract_notes WHERE id = 7`.execute(
        second.db,
      );
      assert.equal(kept.rows[0]?.body, "keeper");
    } finally {
      await second.close();
    }
  });

  test("a stale lock left by a dead process does not block opening", async () => {
    // A pid from a process that has exited.
    const dead = await new Promise<number>((resolve) => {
      const c = spawn(process.execPath, ["-e", ""]);
      const pid = c.pid!;
      c.on("exit", () => resolve(pid));
    });
    writeFileSync(path.join(dir, PGLITE_LOCK_FILE), `${dead} crashed\n`);
    assert.equal(await openInChild(dir), "OK");
  });
});

describe("PGlite memory settings", () => {
  test("shared_buffers is 16MB unless the caller names another size", async () => {
    const shown = async (opts: { sharedBuffersMb?: number }) => {
      const s = await openStore({ memory: true, ...opts });
      try {
        return (await sql<{ shared_buffers: string }>`SHOW shared_buffers`.execute(s.db)).rows[0]
          ?.shared_buffers;
      } finally {
        await s.close();
      }
    };
    assert.equal(await shown({}), "16MB");
    assert.equal(await shown({ sharedBuffersMb: 8 }), "8MB");
  });
});

describe("openStore errors", () => {
  test("a data folder path that is a file → DATA_DIR_UNUSABLE", async () => {
    const file = path.join(tmp, "not-a-folder");
    writeFileSync(file, "x");
    await assert.rejects(
      openStore({ dataDir: file }),
      (e: unknown) => e instanceof StoreError && e.kind === "DATA_DIR_UNUSABLE",
    );
  });

  test("nothing to open → OPTIONS_INVALID", async () => {
    await assert.rejects(
      openStore({}),
      (e: unknown) => e instanceof StoreError && e.kind === "OPTIONS_INVALID",
    );
  });

  test("a bad database URL → URL_INVALID without echoing it", async () => {
    for (const url of ["not a url :secret@", "mysql://u:secret@h/db"]) {
      await assert.rejects(openStore({ databaseUrl: url }), (e: unknown) => {
        assert.ok(e instanceof StoreError);
        assert.equal(e.kind, "URL_INVALID");
        assert.doesNotMatch(e.message, /secret/);
        return true;
      });
    }
  });
});
