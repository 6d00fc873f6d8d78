import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { hashPassword } from "@impp/auth/admin";
import { befriend, connectAndLogin } from "@impp/client";
import { ConfigError, loadConfig } from "@impp/config";
import { ListsType, Status } from "@impp/protocol";
import { PGLITE_SUBDIR } from "@impp/store";
import { EMBEDDED_DB_SUBDIR, mapBounded, parseUserCsv, user } from "../commands/user.js";
import { startServer } from "../runtime.js";
import { freePort } from "../testing/cluster.js";

/** Runs `impp user …` in-process and captures what it prints. */
async function cli(args: string[], env: Record<string, string>, stdin = "") {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => (stdout += d));
  err.on("data", (d) => (stderr += d));
  const code = await user(args, { out, err, env: { ...env }, stdin: Readable.from([stdin]) });
  return { code, stdout, stderr };
}

describe("impp user on the embedded database", () => {
  let dataDir: string;
  let env: Record<string, string>;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "impp-user-"));
    env = { IMPP_DATA_DIR: dataDir, IMPP_LOG_LEVEL: "silent" };
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test("list on a fresh folder creates nothing and says so", async () => {
    const r = await cli(["list"], env);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /no accounts/);
  });

  test("add, list, passwd, remove while no server runs", async () => {
    assert.equal((await cli(["add", "Alice", "--password", "pw one"], env)).code, 0);
    const dup = await cli(["add", "alice", "--password", "x"], env);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /ACCOUNT_EXISTS/);
    const bad = await cli(["add", "no spaces", "--password", "x"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NAME_INVALID/);
    assert.match((await cli(["list"], env)).stdout, /^alice\t/m);
    assert.equal((await cli(["passwd", "alice"], env, "from stdin\n")).code, 0);
    assert.equal((await cli(["remove", "alice"], env)).code, 0);
    assert.equal((await cli(["remove", "alice"], env)).code, 1);
    assert.match((await cli(["list"], env)).stdout, /no accounts/);
  });

  test("usage errors exit 2", async () => {
    assert.equal((await cli(["frobnicate"], env)).code, 2);
    assert.equal((await cli(["add"], env)).code, 2);
    assert.equal((await cli(["add", "x"], env, "")).code, 2, "an empty password is refused");
  });

  test("while the server runs, changes go through it and take effect at once", async () => {
    const config = loadConfig({
      ...env,
      IMPP_PORT: String(await freePort()),
      IMPP_HOST: "127.0.0.1",
      IMPP_HTTP_PORT: "0",
    });
    assert.ok(!(config instanceof ConfigError));
    const server = await startServer(config);
    try {
      const added = await cli(["add", "bob", "--password", "bob's secret"], env);
      assert.equal(added.code, 0, added.stderr);
      const opts = { host: "127.0.0.1", port: server.edge!.ports.plain, rejectUnauthorized: false };
      const c = await connectAndLogin({ ...opts, name: "bob", password: "bob's secret" });
      await c.close();
      assert.match((await cli(["list"], env)).stdout, /^bob\t/m);
      assert.equal((await cli(["passwd", "bob", "--password", "new secret"], env)).code, 0);
      await assert.rejects(connectAndLogin({ ...opts, name: "bob", password: "bob's secret" }));
      assert.equal((await cli(["remove", "bob"], env)).code, 0);
      await assert.rejects(connectAndLogin({ ...opts, name: "bob", password: "new secret" }));
    } finally {
      await server.stop();
    }
    // Stopped: the command opens the database itself again.
    assert.match((await cli(["list"], env)).stdout, /no accounts/);
  });
});

describe("impp user import and show", () => {
  let dataDir: string;
  let env: Record<string, string>;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "impp-user-import-"));
    env = { IMPP_DATA_DIR: dataDir, IMPP_LOG_LEVEL: "silent" };
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test("the command's copy of the embedded folder name is the store's", () => {
    assert.equal(EMBEDDED_DB_SUBDIR, PGLITE_SUBDIR);
  });

  test("parseUserCsv: header, comments, blank lines, CRLF, commas in passwords, hashes", () => {
    const { lines, problems } = parseUserCsv(
      "name,password\r\n# a comment\n\nann,pa,ss\r\nbob,$argon2id$x\nnocomma\n",
    );
    assert.deepEqual(lines, [
      { line: 4, name: "ann", password: "pa,ss" },
      { line: 5, name: "bob", hash: "$argon2id$x" },
    ]);
    assert.deepEqual(problems, [{ line: 6, code: "FORMAT", message: "expected name,password or name,hash" }]);
  });

  test("mapBounded never runs more than its limit at once, and keeps the order", async () => {
    let running = 0;
    let most = 0;
    const out = await mapBounded([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running--;
      return n * 10;
    });
    assert.deepEqual(out, [10, 20, 30, 40, 50, 60, 70]);
    assert.equal(most, 3);
  });

  test("without a server: every bad line is named and nothing is imported; then a good file imports all", async () => {
    const file = path.join(dataDir, "bad.csv");
    await writeFile(file, "name,password\nann,one\nbad name,x\nann,again\ncid,$argon2id$v=19$broken\ndee,\n");
    const bad = await cli(["import", file], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^line 3: .*NAME_INVALID/m);
    assert.match(bad.stderr, /^line 4: ann is already on line 2 \(DUPLICATE\)/m);
    assert.match(bad.stderr, /^line 5: .*HASH_INVALID/m);
    assert.match(bad.stderr, /^line 6: the password is empty \(PASSWORD_INVALID\)/m);
    assert.match(bad.stderr, /nothing imported: 4 lines to fix/);
    assert.match((await cli(["list"], env)).stdout, /no accounts/);

    const hash = await hashPassword("from another server");
    const csv = `ann,pass,with,commas\nbob,${hash}\n${Array.from({ length: 8 }, (_, i) => `u${i},pw${i}`).join("\n")}\n`;
    const good = await cli(["import", "-"], env, csv);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /imported 10 accounts/);
    const again = await cli(["import", "-"], env, "ann,x\nnew1,y\n");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^line 1: account ann already exists \(ACCOUNT_EXISTS\)/m);
    const skip = await cli(["import", "-", "--skip-existing"], env, "ann,x\nnew1,y\n");
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stdout, /imported 1 account\nleft alone \(they exist\): ann/);
  });

  test("show without a server: lists, presence unknown; unknown user is NOT_FOUND", async () => {
    const r = await cli(["show", "ann"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ann, created /);
    assert.match(r.stdout, /presence: unknown \(no server is running/);
    assert.match(r.stdout, /contacts \(0\): none/);
    const none = await cli(["show", "nobody"], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no account nobody \(NOT_FOUND\)/);
  });

  test("with the server running: imported passwords log in, and show has lists and live presence", async () => {
    const config = loadConfig({
      ...env,
      IMPP_PORT: String(await freePort()),
      IMPP_HOST: "127.0.0.1",
      IMPP_HTTP_PORT: "0",
    });
    assert.ok(!(config instanceof ConfigError));
    const server = await startServer(config);
    try {
      const imported = await cli(["import", "-"], env, "eve,eve pw\nfay,fay pw\n");
      assert.equal(imported.code, 0, imported.stderr);
      const opts = { host: "127.0.0.1", port: server.edge!.ports.plain, rejectUnauthorized: false };
      const eve = await connectAndLogin({ ...opts, name: "eve", password: "eve pw", deviceName: "laptop" });
      const fay = await connectAndLogin({ ...opts, name: "fay", password: "fay pw" });
      // ann was imported with a hash made elsewhere: it logs in too.
      const ann = await connectAndLogin({ ...opts, name: "ann", password: "pass,with,commas" });
      try {
        await befriend({ client: eve, name: "eve" }, { client: fay, name: "fay" });
        assert.equal((await ann.lists(ListsType.CONTACT_ADD, "eve")).isError, false);
        assert.equal((await eve.setPresence({ status: Status.AWAY, statusMessage: "lunch" })).isError, false);
        const r = await cli(["show", "eve"], env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^presence: away "lunch"$/m);
        assert.match(r.stdout, /^ {2}device laptop \(impp-client [^)]*\): online$/m);
        assert.match(r.stdout, /^contacts \(1\):\n {2}fay \(mutual\)$/m);
        assert.match(r.stdout, /^pending \(waiting for this user's approval\) \(1\):\n {2}ann$/m);
        const offline = await cli(["show", "bob"], env);
        assert.match(offline.stdout, /^presence: offline$/m);
      } finally {
        await Promise.all([eve.close(), fay.close(), ann.close()]);
      }
    } finally {
      await server.stop();
    }
  });
});
