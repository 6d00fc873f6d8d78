import assert from "node:assert/strict";
import { test } from "node:test";
import { runBusContract } from "./contract.js";
import { createMemoryBus } from "./memory.js";

runBusContract("memory", async () => createMemoryBus({ onHandlerError: () => {} }));

test("memory bus: handler errors reach onHandlerError with the subject", async () => {
  const seen: [unknown, string][] = [];
  const bus = createMemoryBus({ onHandlerError: (e, s) => seen.push([e, s]) });
  const boom = new Error("boom");
  bus.subscribe("x.y", () => {
    throw boom;
  });
  bus.publish("x.y", new Uint8Array(0));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [[boom, "x.y"]]);
  await bus.close();
});

test("memory bus: buses are separate worlds", async () => {
  const a = createMemoryBus();
  const b = createMemoryBus();
  b.subscribe("s", () => {});
  await assert.rejects(a.request("s", new Uint8Array(0), { timeoutMs: 1000 }), { kind: "NO_RESPONDERS" });
  await a.close();
  await b.close();
});
