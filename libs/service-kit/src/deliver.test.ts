import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import {
  type Bus,
  BusError,
  createMemoryBus,
  type DeliveryEnvelope,
  DeliveryFilter,
  EnvelopeError,
  subjects,
} from "@impp/bus";
import { deliver, deliverToAccount, deliverToMany } from "./deliver.js";
import { fakeEdge } from "./testing.js";

const envelope: DeliveryEnvelope = {
  account: "tricia",
  filter: DeliveryFilter.EXCEPT_DEVICE,
  device: "laptop",
  capability: 1,
  closeAfter: false,
  frames: Buffer.from([1, 2, 3]),
};

describe("deliver", () => {
  let bus: Bus;
  beforeEach(() => {
    bus = createMemoryBus();
  });
  afterEach(() => bus.close());

  test("acked: the edge gets the envelope as sent and its count comes back", async () => {
    const edge = fakeEdge(bus, "edge-a");
    edge.delivered = 3;
    assert.deepEqual(await deliver(bus, "edge-a", envelope, 5000), {
      ok: true,
      edgeId: "edge-a",
      delivered: 3,
    });
    assert.equal(edge.received.length, 1);
    assert.deepEqual(
      { ...edge.received[0], frames: [...edge.received[0]!.frames] },
      { ...envelope, frames: [1, 2, 3] },
    );
  });

  test("an ack of 0 is a success that delivered to nobody (the caller decides)", async () => {
    fakeEdge(bus, "edge-a").delivered = 0;
    assert.deepEqual(await deliver(bus, "edge-a", envelope, 5000), {
      ok: true,
      edgeId: "edge-a",
      delivered: 0,
    });
  });

  test("no edge listening: a NO_RESPONDERS failure, not an exception", async () => {
    const r = await deliver(bus, "edge-gone", envelope, 5000);
    assert.equal(r.ok, false);
    assert.equal(r.edgeId, "edge-gone");
    assert.ok(!r.ok && r.error instanceof BusError && r.error.kind === "NO_RESPONDERS");
  });

  test("an edge that never answers: a TIMEOUT failure", async () => {
    bus.subscribe(subjects.edge("edge-mute"), () => {});
    const r = await deliver(bus, "edge-mute", envelope, 50);
    assert.ok(!r.ok && r.error instanceof BusError && r.error.kind === "TIMEOUT");
  });

  test("an answer that is not an ack: a failure carrying the envelope error", async () => {
    bus.subscribe(subjects.edge("edge-odd"), (msg) => {
      msg.respond(Buffer.from([7, 7]));
    });
    const r = await deliver(bus, "edge-odd", envelope, 5000);
    assert.ok(!r.ok && r.error instanceof EnvelopeError);
  });

  test("an envelope that cannot be encoded: a failure, nothing sent", async () => {
    const edge = fakeEdge(bus, "edge-a");
    const r = await deliver(bus, "edge-a", { ...envelope, filter: 99 }, 5000);
    assert.equal(r.ok, false);
    assert.equal(edge.received.length, 0);
  });
});

describe("deliverToAccount", () => {
  let bus: Bus;
  beforeEach(() => {
    bus = createMemoryBus();
  });
  afterEach(() => bus.close());

  test("one delivery per edge holding a device; an edge holding only the excepted device is skipped", async () => {
    const [a, b, c] = [fakeEdge(bus, "edge-a"), fakeEdge(bus, "edge-b"), fakeEdge(bus, "edge-c")];
    const devices = [
      { name: "desk", edgeId: "edge-a" },
      { name: "phone", edgeId: "edge-a" },
      { name: "tablet", edgeId: "edge-b" },
      { name: "sender", edgeId: "edge-c" },
    ];
    const outcomes = await deliverToAccount(bus, {
      account: "arthur",
      devices,
      except: "sender",
      capability: 2,
      frames: Buffer.from([9]),
      timeoutMs: 2000,
    });
    assert.deepEqual(outcomes.map((o) => o.edgeId).sort(), ["edge-a", "edge-b"]);
    assert.ok(outcomes.every((o) => o.ok));
    assert.equal(a.received.length, 1);
    assert.equal(b.received.length, 1);
    assert.equal(c.received.length, 0, "the sender's edge, with nobody else there, is not asked");
    for (const env of [a.received[0]!, b.received[0]!]) {
      assert.equal(env.account, "arthur");
      assert.equal(env.filter, DeliveryFilter.EXCEPT_DEVICE);
      assert.equal(env.device, "sender");
      assert.equal(env.capability, 2);
      assert.deepEqual([...env.frames], [9]);
    }
  });

  test("without an exception every device's edge gets an ALL delivery for any capability", async () => {
    const a = fakeEdge(bus, "edge-a");
    const outcomes = await deliverToAccount(bus, {
      account: "arthur",
      devices: [{ name: "desk", edgeId: "edge-a" }],
      frames: Buffer.from([1]),
      timeoutMs: 2000,
    });
    assert.equal(outcomes.length, 1);
    assert.equal(a.received[0]?.filter, DeliveryFilter.ALL);
    assert.equal(a.received[0]?.capability, 0);
  });
});

describe("deliverToMany", () => {
  test("one delivery per edge naming its accounts; the excepted device's account first with EXCEPT_DEVICE", async () => {
    const bus = createMemoryBus();
    const a = fakeEdge(bus, "edge-a");
    const b = fakeEdge(bus, "edge-b");
    const c = fakeEdge(bus, "edge-c");
    try {
      const outcomes = await deliverToMany(bus, {
        recipients: [
          { account: "ford", devices: [{ edgeId: "edge-a", name: "laptop" }] },
          {
            account: "tricia",
            devices: [
              { edgeId: "edge-a", name: "laptop" },
              { edgeId: "edge-b", name: "phone" },
            ],
          },
          { account: "zaphod", devices: [{ edgeId: "edge-b", name: "laptop" }] },
          // Only the excepted device on edge-c: edge-c gets nothing.
          { account: "arthur", devices: [] },
        ],
        except: { account: "tricia", device: "laptop" },
        frames: Buffer.from([9]),
        timeoutMs: 5000,
      });
      assert.equal(outcomes.length, 2);
      assert.equal(a.received.length, 1);
      // edge-a: tricia's laptop is the sender's device and the only tricia device there.
      assert.equal(a.received[0]!.account, "ford");
      assert.equal(a.received[0]!.filter, DeliveryFilter.ALL);
      assert.equal(a.received[0]!.others, undefined);
      assert.equal(b.received[0]!.account, "tricia");
      assert.equal(b.received[0]!.filter, DeliveryFilter.EXCEPT_DEVICE);
      assert.equal(b.received[0]!.device, "laptop");
      assert.deepEqual(b.received[0]!.others, ["zaphod"]);
      assert.equal(c.received.length, 0);
    } finally {
      a.stop();
      b.stop();
      c.stop();
      await bus.close();
    }
  });
});
