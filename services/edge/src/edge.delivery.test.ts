// Integration: deliveries addressed to the edge (filters, capability, closeAfter, the ack),
// device-gone publication, and edge liveness in the session store.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Bus,
  type DeliveryEnvelope,
  DeliveryFilter,
  decodeDeliveryAck,
  encodeDelivery,
  isEnvelopeError,
  subjects,
} from "@impp/bus";
import { Family, Feature, Flags, ImTlv, ImType, TlvWriter } from "@impp/protocol";
import { authenticateBlock, TestClient, tlvs } from "@impp/test-kit";
import { CloseReason } from "./sweeper.js";
import { fakeAuth, fakeDevice, type Stack, startStack, watchDeviceGone } from "./test-support.js";

let stack: Stack;
before(async () => {
  stack = await startStack({ heartbeat: { intervalMs: 50, ttlMs: 5000 } });
  fakeAuth(stack.bus);
  fakeDevice(stack.bus);
});
after(() => stack.stop());

function indication(text: string): Buffer {
  return Buffer.from(
    new TlvWriter()
      .string(ImTlv.FROM, "zaphod")
      .string(ImTlv.MESSAGE_CHUNK, text)
      .frame({ flags: Flags.INDICATION, family: Family.IM, type: ImType.MESSAGE_SEND, sequence: 0 }),
  );
}

async function sendDelivery(bus: Bus, edgeId: string, e: Partial<DeliveryEnvelope>): Promise<number> {
  const env: DeliveryEnvelope = {
    account: "tricia",
    filter: DeliveryFilter.ALL,
    device: "",
    capability: 0,
    closeAfter: false,
    frames: indication("hi"),
    ...e,
  };
  const msg = await bus.request(subjects.edge(edgeId), encodeDelivery(env), { timeoutMs: 2000 });
  const ack = decodeDeliveryAck(msg.data);
  if (isEnvelopeError(ack)) throw ack;
  return ack.delivered;
}

/** The text of the next delivered IM, or "ping" if the next thing the client sees is our PING answer. */
async function nextSeen(c: TestClient): Promise<string> {
  c.send(Family.STREAM, 3);
  const m = await c.nextTlv();
  if (m.family === Family.STREAM) return "ping";
  const text = tlvs(m).string(ImTlv.MESSAGE_CHUNK) as string;
  assert.equal((await c.nextTlv()).family, Family.STREAM);
  return text;
}

describe("deliveries", () => {
  test("ALL, ONLY_DEVICE, EXCEPT_DEVICE and the capability filter pick the right connections; the ack counts them", async () => {
    const port = stack.edge.ports.plain;
    const laptop = await TestClient.bound(port, "tricia", "laptop", [1]);
    const phone = await TestClient.bound(port, "tricia", "phone", [1, 2], Feature.TLS | Feature.COMPRESSION);
    const watch = await TestClient.bound(port, "tricia", "watch", []);
    const other = await TestClient.bound(port, "arthur", "laptop", [1, 2]);
    const all = [laptop, phone, watch, other];
    const id = stack.edge.edgeId;

    assert.equal(await sendDelivery(stack.bus, id, { frames: indication("all") }), 3);
    assert.deepEqual(await Promise.all(all.map(nextSeen)), ["all", "all", "all", "ping"]);

    assert.equal(
      await sendDelivery(stack.bus, id, {
        filter: DeliveryFilter.ONLY_DEVICE,
        device: "phone",
        frames: indication("only"),
      }),
      1,
    );
    assert.deepEqual(await Promise.all(all.map(nextSeen)), ["ping", "only", "ping", "ping"]);

    assert.equal(
      await sendDelivery(stack.bus, id, {
        filter: DeliveryFilter.EXCEPT_DEVICE,
        device: "phone",
        frames: indication("except"),
      }),
      2,
    );
    assert.deepEqual(await Promise.all(all.map(nextSeen)), ["except", "ping", "except", "ping"]);

    assert.equal(await sendDelivery(stack.bus, id, { capability: 2, frames: indication("typing") }), 1);
    assert.deepEqual(await Promise.all(all.map(nextSeen)), ["ping", "typing", "ping", "ping"]);

    assert.equal(
      await sendDelivery(stack.bus, id, {
        capability: 1,
        filter: DeliveryFilter.EXCEPT_DEVICE,
        device: "laptop",
        frames: indication("im"),
      }),
      1,
    );
    assert.deepEqual(await Promise.all(all.map(nextSeen)), ["ping", "im", "ping", "ping"]);

    assert.equal(await sendDelivery(stack.bus, id, { account: "nobody" }), 0);
    assert.equal(
      await sendDelivery(stack.bus, id, { filter: DeliveryFilter.ONLY_DEVICE, device: "tablet" }),
      0,
    );
    for (const c of all) c.close();
  });

  test("closeAfter: written, then the matched connections close; the ack still counts them", async () => {
    const gone = watchDeviceGone(stack.bus);
    const port = stack.edge.ports.plain;
    const a = await TestClient.bound(port, "ford", "a");
    const b = await TestClient.bound(port, "ford", "b");
    assert.equal(
      await sendDelivery(stack.bus, stack.edge.edgeId, {
        account: "ford",
        filter: DeliveryFilter.ONLY_DEVICE,
        device: "b",
        closeAfter: true,
        frames: indication("bye"),
      }),
      1,
    );
    assert.equal(tlvs(await b.nextTlv()).string(ImTlv.MESSAGE_CHUNK), "bye");
    await b.expectClose();
    const g = await gone.waitFor("ford");
    assert.deepEqual([g.account, g.device, g.reason], ["ford", "b", CloseReason.SERVER_CLOSE]);
    assert.equal(await nextSeen(a), "ping");
    // The gone device no longer receives anything.
    assert.equal(await sendDelivery(stack.bus, stack.edge.edgeId, { account: "ford" }), 1);
    assert.equal(await nextSeen(a), "hi");
    a.close();
  });

  test("an undecodable delivery or one with corrupt frames is acknowledged with 0 and writes nothing", async () => {
    const c = await TestClient.bound(stack.edge.ports.plain, "eddie", "computer");
    const msg = await stack.bus.request(subjects.edge(stack.edge.edgeId), Buffer.from([1, 3, 0]), {
      timeoutMs: 2000,
    });
    assert.deepEqual(decodeDeliveryAck(msg.data), { delivered: 0 });
    assert.equal(
      await sendDelivery(stack.bus, stack.edge.edgeId, {
        account: "eddie",
        frames: indication("x").subarray(0, 20),
      }),
      0,
    );
    assert.equal(await nextSeen(c), "ping");
    c.close();
  });
});

describe("device-gone", () => {
  test("a bound connection that closes is published with account, device, connection and edge", async () => {
    const gone = watchDeviceGone(stack.bus);
    const c = await TestClient.bound(stack.edge.ports.plain, "marvin", "android");
    c.close();
    const g = await gone.waitFor("marvin");
    assert.deepEqual(
      { ...g, connId: "" },
      {
        account: "marvin",
        device: "android",
        connId: "",
        edgeId: stack.edge.edgeId,
        reason: CloseReason.CLIENT_CLOSED,
      },
    );
    assert.match(g.connId, /.+/);
  });

  test("a connection that never bound publishes nothing", async () => {
    const gone = watchDeviceGone(stack.bus);
    const c = await TestClient.open(stack.edge.ports.plain);
    await c.request(Family.STREAM, 2, authenticateBlock("unbound"));
    c.close();
    await c.closed;
    // A bound connection closed after it: its device-gone arrives, the unbound one's never did.
    const b = await TestClient.bound(stack.edge.ports.plain, "late", "x");
    b.close();
    await gone.waitFor("late");
    assert.equal(gone.got.filter((g) => g.account === "unbound").length, 0);
  });
});

describe("liveness", () => {
  test("the edge heartbeats while running and removes itself on stop", async () => {
    const s = await startStack({ heartbeat: { intervalMs: 20, ttlMs: 1000 } });
    const id = s.edge.edgeId;
    const t0 = Date.now();
    // A heartbeat after t0 pushes the expiry past t0 + ttl.
    while ((await s.sessions.deadEdges(t0 + 1000 + 5)).includes(id))
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await s.sessions.deadEdges(Date.now()), []);
    await s.edge.stop();
    assert.equal(s.edge.ready(), false);
    assert.deepEqual(await s.sessions.deadEdges(Date.now() + 10_000), []);
    await s.stop();
  });
});
