// Integration: an edge whose registration the live state lost (Redis restarted empty, or swept as
// dead while only stalled) registers its bound devices again on its next heartbeat.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isEnvelopeError } from "@impp/bus";
import type { DeviceRecord } from "@impp/sessions";
import { TestClient } from "@impp/test-kit";
import { type DeviceRestored, deviceRestoredEvent } from "./events.js";
import { fakeAuth, fakeDevice, type Stack, startStack } from "./test-support.js";

let stack: Stack;
const restoredEvents: DeviceRestored[] = [];
before(async () => {
  stack = await startStack({ heartbeat: { intervalMs: 50, ttlMs: 5000 } });
  fakeAuth(stack.bus);
  fakeDevice(stack.bus);
  stack.bus.subscribe(deviceRestoredEvent.subject, (msg) => {
    const e = deviceRestoredEvent.decode(msg.data);
    if (isEnvelopeError(e)) throw e;
    restoredEvents.push(e);
  });
});
after(() => stack.stop());

/** The store forgets the edge and everything bound through it, as a Redis restarted empty would. */
async function loseEdge(): Promise<void> {
  const id = stack.edge.edgeId;
  for (const d of await stack.sessions.devicesOfEdge(id))
    await stack.sessions.unbindDevice(d.account, d.name);
  await stack.sessions.expireEdge(id);
  await stack.sessions.forgetEdge(id);
}

async function poll<T>(what: string, read: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await read();
    if (v !== undefined) return v;
    await sleep(25);
  }
  assert.fail(`never: ${what}`);
}

test("a lost registration comes back: same name, same connection, the record as bound; presence is told", async () => {
  const port = stack.edge.ports.plain;
  const phone = await TestClient.bound(port, "ford", "phone", [1, 2]);
  const desk = await TestClient.bound(port, "ford", "desk", []);
  const other = await TestClient.bound(port, "zaphod", "laptop", [1]);
  try {
    // The fake service registers nothing: losing the edge starts from an empty store too.
    await loseEdge();
    const back = await poll("ford's devices registered again", async () => {
      const l = await stack.sessions.getDevices("ford");
      return l.length === 2 ? l : undefined;
    });
    assert.deepEqual(back.map((d) => d.name).sort(), ["desk", "phone"]);
    const p = back.find((d) => d.name === "phone") as DeviceRecord;
    assert.equal(p.edgeId, stack.edge.edgeId);
    assert.deepEqual(p.capabilities, [1, 2]);
    assert.equal(p.statusMessage, "restored as bound");
    assert.equal((await stack.sessions.getDevices("zaphod")).length, 1);
    const index = await stack.sessions.devicesOfEdge(stack.edge.edgeId);
    assert.deepEqual(index.map((d) => `${d.account}/${d.name}`).sort(), [
      "ford/desk",
      "ford/phone",
      "zaphod/laptop",
    ]);
    assert.equal(new Set(index.map((d) => d.connId)).size, 3);
    await poll("device-restored events", async () => (restoredEvents.length >= 3 ? true : undefined));
    assert.deepEqual(restoredEvents.map((e) => `${e.account}/${e.device}`).sort(), [
      "ford/desk",
      "ford/phone",
      "zaphod/laptop",
    ]);
    // Registered again, it stays so: the next heartbeats find the edge and restore nothing more.
    restoredEvents.length = 0;
    await sleep(200);
    assert.deepEqual(restoredEvents, []);
  } finally {
    for (const c of [phone, desk, other]) c.close();
  }
});

test("a device name another connection took meanwhile is left to it; this connection is closed", async () => {
  const port = stack.edge.ports.plain;
  const phone = await TestClient.bound(port, "trillian", "phone", []);
  try {
    await loseEdge();
    // Before the edge's next heartbeat, someone binds "phone" elsewhere.
    const r = await stack.sessions.bindDevice(
      {
        account: "trillian",
        edgeId: "edge-elsewhere",
        connId: "other-conn",
        remoteAddress: "192.0.2.9",
        connectedAt: Date.now(),
        status: 1,
        capabilities: [],
        isIdle: false,
        isMobile: false,
        isStatusAutomatic: false,
      },
      "phone",
      4,
    );
    assert.ok(r.ok && r.device.name === "phone");
    await phone.expectClose();
    assert.equal((await stack.sessions.getDevice("trillian", "phone"))?.connId, "other-conn");
  } finally {
    phone.close();
  }
});
