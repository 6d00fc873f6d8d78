import assert from "node:assert/strict";
import { test } from "node:test";

test("the package entry points export the public API", async () => {
  const main = await import("@impp/sessions");
  assert.equal(typeof main.createMemorySessionStore, "function");
  assert.equal(typeof main.connectRedisSessionStore, "function");
  assert.equal(typeof main.SessionError, "function");
  assert.equal(typeof main.encodeDevice, "function");
  const contract = await import("@impp/sessions/contract");
  assert.equal(typeof contract.runSessionStoreContract, "function");
});
