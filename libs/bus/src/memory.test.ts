import assert from "node:assert/strict";
import { test } from "node:test";
import { deliverToEdge, requestService, serveDeliveries, serveRequests } from "./calls.js";
import { runBusContract, runCallsContract } from "./contract.js";
import { createMemoryBus } from "./memory.js";

runBusContract("memory", async () => createMemoryBus({ onHandlerError: () => {} }));
// In one process the calls are direct (no envelopes); the contract is the one NATS passes encoded.
runCallsContract("memory (direct calls)", async () => createMemoryBus({ onHandlerError: () => {} }));

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

test("memory bus: calls between a registered server and a caller in one process never touch the bus", async () => {
  const bus = createMemoryBus();
  const onBus: string[] = [];
  // A plain (non-queue) subscriber sees every message published on these subjects.
  bus.subscribe("impp.>", (m) => {
    onBus.push(m.subject);
  });
  const family = 0x7ffe;
  serveRequests(bus, family, async (_r, _h, respond) => respond({ actions: 0, frames: Buffer.from([1]) }), {
    onUndecodable: () => {},
    onError: () => {},
  });
  serveDeliveries(bus, "edge-1", () => 1, { onUndecodable: () => {}, onError: () => {} });
  const reply = await requestService(
    bus,
    {
      flags: 0,
      family,
      type: 1,
      sequence: 1,
      connId: "c",
      edgeId: "edge-1",
      account: "a",
      device: "d",
      remoteAddress: "127.0.0.1",
      server: "s:1",
      capabilities: [],
      block: Buffer.alloc(0),
    },
    { timeoutMs: 1000 },
  );
  const ack = await deliverToEdge(
    bus,
    "edge-1",
    { account: "a", filter: 0, device: "", capability: 0, closeAfter: false, frames: Buffer.from([1]) },
    { timeoutMs: 1000 },
  );
  assert.deepEqual([reply, ack], [{ actions: 0, frames: Buffer.from([1]) }, { delivered: 1 }]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(onBus, []);
  await bus.close();
});
