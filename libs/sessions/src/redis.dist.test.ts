import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { runSessionStoreContract } from "./contract.js";
import { connectRedisSessionStore } from "./redis.js";
import { SessionError } from "./types.js";

const url = process.env.IMPP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const keyPrefix = `impp-test-${randomBytes(6).toString("hex")}:`;

runSessionStoreContract("redis", () => connectRedisSessionStore({ url, keyPrefix }));

after(async () => {
  const redis = new Redis(url);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await redis.quit();
});

test("records are stored binary, one hash per account, and every key carries the prefix", async () => {
  const s = await connectRedisSessionStore({ url, keyPrefix });
  const redis = new Redis(url);
  try {
    const r = await s.bindDevice(
      {
        account: "bin-check",
        edgeId: "e",
        connId: "c",
        remoteAddress: "a",
        connectedAt: 1,
        status: 1,
        capabilities: [],
        isIdle: false,
        isMobile: false,
        isStatusAutomatic: false,
      },
      "d",
      10,
    );
    assert.equal(r.ok, true);
    const raw = await redis.hgetBuffer(`${keyPrefix}dev:bin-check`, "d");
    assert.ok(raw !== null);
    assert.equal(raw[0], 1, "version byte");
    assert.notEqual(raw.toString("utf8").trimStart()[0], "{", "not JSON");
    assert.equal(await redis.hget(`${keyPrefix}edge:e`, "bin-check\0d"), "c");
  } finally {
    await redis.quit();
    await s.close();
  }
});

test("connecting to an unreachable Redis fails fast with UNAVAILABLE", async () => {
  await assert.rejects(
    connectRedisSessionStore({ url: "redis://127.0.0.1:1", keyPrefix, connectTimeoutMs: 1000 }),
    (e: unknown) =>
      e instanceof SessionError && e.kind === "UNAVAILABLE" && /cannot reach Redis/.test(e.message),
  );
});

test("when Redis drops the connection, commands reject with UNAVAILABLE and the store recovers", async () => {
  const errors: Error[] = [];
  const s = await connectRedisSessionStore({ url, keyPrefix, onError: (e) => errors.push(e) });
  const admin = new Redis(url);
  try {
    await s.ping();
    // Kill this store's connection from the server side (ioredis names nothing, so find it by its last command).
    await s.getDevices("kill-marker");
    const list = (await admin.client("LIST")) as string;
    const mine = list
      .split("\n")
      .filter((l) => /cmd=hvals/.test(l))
      .map((l) => /id=(\d+)/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined);
    assert.ok(mine.length > 0, "found the store's connection");
    for (const id of mine) await admin.client("KILL", "ID", id);
    // Right after the kill the client is reconnecting: a command either fails with our error or succeeds once back.
    let sawUnavailable = false;
    for (let i = 0; i < 50; i++) {
      try {
        await s.getDevices("x");
        if (sawUnavailable) break;
      } catch (e) {
        assert.ok(e instanceof SessionError && e.kind === "UNAVAILABLE", `named error, got ${String(e)}`);
        sawUnavailable = true;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await s.ping();
  } finally {
    await admin.quit();
    await s.close();
  }
});
