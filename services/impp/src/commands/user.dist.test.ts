// `impp user` and `impp migrate` on PostgreSQL (IMPP_DATABASE_URL), on a fresh database.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { after, before, test } from "node:test";
import pg from "pg";
import { migrate } from "./migrate.js";
import { user } from "./user.js";

const adminUrl = process.env.IMPP_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const dbName = `impp_cli_${randomBytes(6).toString("hex")}`;
let env: Record<string, string>;

before(async () => {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${dbName}`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  env = { IMPP_DATABASE_URL: u.toString(), IMPP_LOG_LEVEL: "silent" };
});
after(async () => {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await c.end();
});

async function cli(args: string[], stdin = "") {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => (stdout += d));
  err.on("data", (d) => (stderr += d));
  const code = await user(args, { out, err, env, stdin: Readable.from([stdin]) });
  return { code, stdout, stderr };
}

test("impp migrate, then impp user add/list/passwd/remove on PostgreSQL", async () => {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const out = new PassThrough();
    let text = "";
    out.on("data", (d) => (text += d));
    assert.equal(await migrate([], out as unknown as typeof process.stdout), 0);
    assert.match(text, /applied 1 migration|schema up to date/);
  } finally {
    process.env = saved;
  }
  assert.equal((await cli(["add", "Zaphod", "--password", "two heads"])).code, 0);
  assert.match((await cli(["list"])).stdout, /^zaphod\t/m);
  assert.equal((await cli(["passwd", "zaphod"], "one head\n")).code, 0);
  const dup = await cli(["add", "zaphod", "--password", "x"]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /ACCOUNT_EXISTS/);
  assert.equal((await cli(["remove", "zaphod"])).code, 0);
  assert.match((await cli(["list"])).stdout, /no accounts/);
});

test("impp user import and show on PostgreSQL, presence from Redis", async () => {
  const imported = await cli(["import", "-"], "trin,tea\nford,towel\n");
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /imported 2 accounts/);
  const bad = await cli(["import", "-"], "trin,again\n");
  assert.match(bad.stderr, /^line 1: account trin already exists/m);
  const redisUrl = process.env.IMPP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
  const saved = env;
  env = { ...env, IMPP_REDIS_URL: redisUrl, IMPP_REDIS_PREFIX: `cli-${randomBytes(4).toString("hex")}:` };
  try {
    const r = await cli(["show", "trin"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^presence: offline$/m);
    assert.match(r.stdout, /^contacts \(0\): none$/m);
  } finally {
    env = saved;
  }
  const noRedis = await cli(["show", "ford"]);
  assert.match(noRedis.stdout, /^presence: unknown/m);
});
