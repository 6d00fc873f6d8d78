import assert from "node:assert/strict";
import { test } from "node:test";
import { runSessionStoreContract } from "./contract.js";
import { createMemorySessionStore } from "./memory.js";

runSessionStoreContract("memory", async () => createMemorySessionStore());

test("memory store uses the injected clock for heartbeats, claims and rate limits", async () => {
  let t = 1_000_000;
  const s = createMemorySessionStore({ now: () => t });
  await s.heartbeatEdge("e", 100);
  assert.deepEqual(await s.deadEdges(), []);
  t += 100;
  assert.deepEqual(await s.deadEdges(), [], "exactly at the TTL it is still alive");
  t += 1;
  assert.deepEqual(await s.deadEdges(), ["e"]);

  assert.equal(await s.claimEdgeCleanup("e", "a", 50), true);
  t += 49;
  assert.equal(await s.claimEdgeCleanup("e", "b", 50), false);
  t += 1;
  assert.equal(await s.claimEdgeCleanup("e", "b", 50), true);

  assert.equal((await s.hit("k", 1000, 2)).allowed, true);
  t += 500;
  assert.equal((await s.hit("k", 1000, 2)).allowed, true);
  const refused = await s.hit("k", 1000, 2);
  assert.deepEqual(refused, { allowed: false, count: 2, retryAfterMs: 500 });
  t += 500; // the first hit leaves the window exactly now
  assert.deepEqual(await s.hit("k", 1000, 2), { allowed: true, count: 2, retryAfterMs: 0 });
  await s.close();
});
