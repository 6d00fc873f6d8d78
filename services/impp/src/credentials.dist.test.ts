// The server's backends with authentication on, end to end through the configuration: `impp serve`
// (the edge role, which needs the bus and the live state) against a nats-server and a redis-server
// that demand credentials, given in the URLs or as settings. A wrong credential stops the start
// with a message naming the server, and no secret is ever written — not in errors, not in logs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startNatsServer, startRedisServer, type TestServer } from "@impp/test-kit";
import { BIN, freePort } from "./testing/cluster.js";

const NATS_PW = "n4ts-Secret-pw";
const NATS_TOKEN = "n4ts-Secret-token";
const REDIS_PW = "r3dis-Secret-pw";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `impp serve` until its banner shows (then SIGINT) or it exits on its own. */
async function serve(env: Record<string, string>): Promise<Run> {
  const child = spawn(process.execPath, [BIN, "serve"], {
    env: { ...process.env, IMPP_LOG_LEVEL: "trace", IMPP_HOST: "127.0.0.1", IMPP_HTTP_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let signalled = false;
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
    // Once: a second SIGINT means "stop now" to impp serve.
    if (!signalled && stdout.includes("edge id:")) {
      signalled = true;
      child.kill("SIGINT");
    }
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  return { code, stdout, stderr };
}

describe("impp serve with NATS and Redis that require credentials", () => {
  let natsUser: TestServer;
  let natsToken: TestServer;
  let redis: TestServer;
  let dataDir: string;
  const base = async () => ({
    IMPP_ROLES: "edge",
    IMPP_DATA_DIR: dataDir,
    IMPP_PORT: String(await freePort()),
  });

  before(async () => {
    [natsUser, natsToken, redis] = await Promise.all([
      startNatsServer(["--user", "impp", "--pass", NATS_PW]),
      startNatsServer(["--auth", NATS_TOKEN]),
      startRedisServer((p) => ["--port", String(p), "--requirepass", REDIS_PW]),
    ]);
    dataDir = await mkdtemp(path.join(tmpdir(), "impp-credentials-"));
  });
  after(async () => {
    await Promise.all([natsUser?.stop(), natsToken?.stop(), redis?.stop()]);
    await rm(dataDir, { recursive: true, force: true });
  });

  const noSecrets = (r: Run) => {
    for (const secret of [NATS_PW, NATS_TOKEN, REDIS_PW, "wrong-Secret"]) {
      assert.ok(
        !r.stdout.includes(secret) && !r.stderr.includes(secret),
        `${secret} was written:\n${r.stderr}`,
      );
    }
  };

  test("credentials in the URLs: the edge starts on NATS and Redis", async () => {
    const r = await serve({
      ...(await base()),
      IMPP_NATS_URL: `nats://impp:${NATS_PW}@127.0.0.1:${natsUser.port}`,
      IMPP_REDIS_URL: `redis://:${REDIS_PW}@127.0.0.1:${redis.port}`,
    });
    assert.match(r.stdout, /bus: external, live state: external/, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    noSecrets(r);
  });

  test("credentials as settings: a user and password, or a token", async () => {
    const redisUrl = `redis://:${REDIS_PW}@127.0.0.1:${redis.port}`;
    const user = await serve({
      ...(await base()),
      IMPP_NATS_URL: `nats://127.0.0.1:${natsUser.port}`,
      IMPP_NATS_USER: "impp",
      IMPP_NATS_PASSWORD: NATS_PW,
      IMPP_REDIS_URL: redisUrl,
    });
    assert.equal(user.code, 0, user.stderr);
    assert.match(user.stdout, /bus: external/);
    const token = await serve({
      ...(await base()),
      IMPP_NATS_URL: `nats://127.0.0.1:${natsToken.port}`,
      IMPP_NATS_TOKEN: NATS_TOKEN,
      IMPP_REDIS_URL: redisUrl,
    });
    assert.equal(token.code, 0, token.stderr);
    noSecrets(user);
    noSecrets(token);
  });

  test("a wrong NATS password stops the start, naming the server and not the password", async () => {
    const r = await serve({
      ...(await base()),
      IMPP_NATS_URL: `nats://impp:wrong-Secret@127.0.0.1:${natsUser.port}`,
      IMPP_REDIS_URL: `redis://:${REDIS_PW}@127.0.0.1:${redis.port}`,
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `could not start: cannot connect to NATS at nats://\\*\\*\\*@127\\.0\\.0\\.1:${natsUser.port}: Authorization Violation`,
      ),
    );
    noSecrets(r);
  });

  test("a wrong Redis password stops the start, naming the server and not the password", async () => {
    const r = await serve({
      ...(await base()),
      IMPP_NATS_URL: `nats://127.0.0.1:${natsToken.port}`,
      IMPP_NATS_TOKEN: NATS_TOKEN,
      IMPP_REDIS_URL: `redis://:wrong-Secret@127.0.0.1:${redis.port}`,
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/?: WRONGPASS`),
    );
    noSecrets(r);
  });

  test("a secret setting with a problem is not echoed in the configuration error", async () => {
    const r = await serve({ ...(await base()), IMPP_NATS_PASSWORD: "wrong-Secret" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /IMPP_NATS_USER: must be set together with IMPP_NATS_PASSWORD/);
    noSecrets(r);
  });
});
