// Redis with a password, an ACL user and TLS: each suite starts its own redis-server on a free
// port and checks the right credentials work, a wrong one fails naming the server but not the
// secret, and a CA file verifies a TLS server.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startRedisServer } from "@impp/test-kit";
import { connectRedisSessionStore, type RedisSessionStoreOptions } from "./redis.js";
import { SessionError } from "./types.js";

const startRedis = startRedisServer;

const opts = (url: string, extra: Partial<RedisSessionStoreOptions> = {}): RedisSessionStoreOptions => ({
  url,
  keyPrefix: "auth-test:",
  connectTimeoutMs: 2000,
  ...extra,
});

async function works(o: RedisSessionStoreOptions): Promise<void> {
  const store = await connectRedisSessionStore(o);
  try {
    await store.ping();
    await store.setPresence("alice", { status: 1 });
    assert.deepEqual(await store.getPresence(["alice"]), [{ status: 1 }]);
  } finally {
    await store.close();
  }
}

async function refused(
  o: RedisSessionStoreOptions,
  port: number,
  secret: string,
  why: RegExp,
): Promise<void> {
  await assert.rejects(connectRedisSessionStore(o), (e: unknown) => {
    assert.ok(e instanceof SessionError, String(e));
    assert.equal(e.kind, "UNAVAILABLE");
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(e.message, why);
    assert.ok(!e.message.includes(secret), `the secret is in the error: ${e.message}`);
    return true;
  });
}

describe("Redis with requirepass", () => {
  let server: Awaited<ReturnType<typeof startRedis>>;
  before(async () => {
    server = await startRedis((p) => ["--port", String(p), "--requirepass", "r3d1s-pw"]);
  });
  after(() => server.stop());

  test("the password in the URL works", async () => {
    await works(opts(`redis://:r3d1s-pw@127.0.0.1:${server.port}`));
  });
  test("a wrong password fails, naming the server and not the password", async () => {
    await refused(
      opts(`redis://:bad-pw-77@127.0.0.1:${server.port}`),
      server.port,
      "bad-pw-77",
      /WRONGPASS|invalid/i,
    );
  });
  test("no password fails with NOAUTH", async () => {
    await refused(
      opts(`redis://127.0.0.1:${server.port}`),
      server.port,
      "r3d1s-pw",
      /NOAUTH|Authentication required/i,
    );
  });
});

describe("Redis with an ACL user", () => {
  let server: Awaited<ReturnType<typeof startRedis>>;
  before(async () => {
    server = await startRedis((p) => [
      "--port",
      String(p),
      // One argument per ACL rule: redis-server joins a directive's words itself.
      ...["--user", "impp", "on", ">acl-pw", "~*", "&*", "+@all"],
      ...["--user", "default", "off"],
    ]);
  });
  after(() => server.stop());

  test("user:password in the URL works", async () => {
    await works(opts(`redis://impp:acl-pw@127.0.0.1:${server.port}`));
  });
  test("a wrong password for the user fails without showing it", async () => {
    await refused(
      opts(`redis://impp:nope-13@127.0.0.1:${server.port}`),
      server.port,
      "nope-13",
      /WRONGPASS|invalid/i,
    );
  });
});

describe("Redis over TLS (rediss://) with a private CA", () => {
  let server: Awaited<ReturnType<typeof startRedis>>;
  let dir: string;
  let caFile: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "impp-redis-tls-"));
    caFile = path.join(dir, "cert.pem");
    const keyFile = path.join(dir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        caFile,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      { stdio: "ignore" },
    );
    assert.match(await readFile(caFile, "utf8"), /BEGIN CERTIFICATE/);
    server = await startRedis((p) => [
      "--port",
      "0",
      "--tls-port",
      String(p),
      "--tls-cert-file",
      caFile,
      "--tls-key-file",
      keyFile,
      "--tls-auth-clients",
      "no",
      "--requirepass",
      "tls-redis-pw",
    ]);
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the CA file verifies the server", async () => {
    await works(opts(`rediss://:tls-redis-pw@127.0.0.1:${server.port}`, { tlsCaFile: caFile }));
  });
  test("without the CA the certificate is refused", async () => {
    await refused(
      opts(`rediss://:tls-redis-pw@127.0.0.1:${server.port}`),
      server.port,
      "tls-redis-pw",
      /certificate/i,
    );
  });
  test("a CA file with a plain redis:// URL is a mistake, named before connecting", async () => {
    await assert.rejects(
      connectRedisSessionStore(opts(`redis://127.0.0.1:${server.port}`, { tlsCaFile: caFile })),
      /a CA file needs a rediss:\/\/ URL/,
    );
  });
});
