import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { connectAndLogin } from "@impp/client";
import { ConfigError, loadConfig } from "@impp/config";
import { user } from "../commands/user.js";
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
