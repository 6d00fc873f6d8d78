// The calls contract (calls.ts): what an edge's request to a service and a service's delivery to
// an edge do, the same whether they cross NATS encoded or are direct calls in one process. Run
// against both buses, and for the in-process bus also across the two paths (a stand-in subscribed
// on the bus, a raw encoded request to a registered server).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { type Bus, BusError, type BusErrorKind } from "./bus.js";
import { deliverToEdge, requestService, serveDeliveries, serveRequests } from "./calls.js";
import {
  type DeliveryEnvelope,
  DeliveryFilter,
  decodeDeliveryAck,
  decodeReply,
  decodeRequest,
  encodeDelivery,
  encodeReply,
  encodeRequest,
  isEnvelopeError,
  type ReplyEnvelope,
  type RequestEnvelope,
} from "./envelope.js";
import { subjects } from "./subjects.js";

async function rejectsWith(p: Promise<unknown>, kind: BusErrorKind): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BusError, `expected a BusError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

/** A family number of its own per test, so runs against one NATS server never meet. */
let nextFamily = 0x7000 + Math.floor(Math.random() * 0x800);

function request(family: number, block = Buffer.from([0, 1, 0, 2, 0xab, 0xcd])): RequestEnvelope {
  return {
    flags: 0,
    family,
    type: 3,
    sequence: 77,
    connId: "c1",
    edgeId: "e1",
    account: "ann",
    device: "phone",
    remoteAddress: "127.0.0.1",
    server: "impp.test:3158",
    capabilities: [1, 2, 0x4001],
    block,
    deadline: Date.now() + 60_000,
  };
}

const REPLY: ReplyEnvelope = { actions: 0, frames: Buffer.from([0x6f, 2, 0, 0]) };

function delivery(account: string): DeliveryEnvelope {
  return {
    account,
    filter: DeliveryFilter.ALL,
    device: "",
    capability: 0,
    closeAfter: false,
    frames: Buffer.from([1, 2, 3]),
  };
}

const quiet = { onUndecodable: () => {}, onError: () => {} };

export function runCallsContract(name: string, makeBus: () => Promise<Bus>): void {
  const opened: Bus[] = [];
  const open = async (): Promise<Bus> => {
    const bus = await makeBus();
    opened.push(bus);
    return bus;
  };

  describe(`Calls contract: ${name}`, () => {
    after(async () => {
      for (const bus of opened) await bus.close();
    });

    test("a request reaches the family's server whole and its reply comes back", async () => {
      const bus = await open();
      const family = nextFamily++;
      const seen: RequestEnvelope[] = [];
      const sub = serveRequests(
        bus,
        family,
        async (req, _headers, respond) => {
          seen.push(req);
          respond(REPLY);
        },
        quiet,
      );
      const sent = request(family);
      const reply = await requestService(bus, sent, { timeoutMs: 5000 });
      assert.ok(!isEnvelopeError(reply));
      assert.deepEqual({ ...reply, frames: Buffer.from(reply.frames) }, REPLY);
      assert.equal(seen.length, 1);
      assert.deepEqual({ ...seen[0]!, block: Buffer.from(seen[0]!.block) }, sent);
      sub.unsubscribe();
    });

    test("the server owns what it got: the caller changing its block afterwards changes nothing", async () => {
      const bus = await open();
      const family = nextFamily++;
      let kept: Uint8Array | undefined;
      const sub = serveRequests(
        bus,
        family,
        async (req, _h, respond) => {
          kept = req.block;
          respond(REPLY);
        },
        quiet,
      );
      const block = Buffer.from([0, 1, 0, 1, 9]);
      await requestService(bus, request(family, block), { timeoutMs: 5000 });
      block.fill(0);
      assert.deepEqual(Buffer.from(kept!), Buffer.from([0, 1, 0, 1, 9]));
      sub.unsubscribe();
    });

    test("the reply arrives before the server's follow-up work ends", async () => {
      const bus = await open();
      const family = nextFamily++;
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let finished = false;
      const sub = serveRequests(
        bus,
        family,
        async (_req, _h, respond) => {
          respond(REPLY);
          await held;
          finished = true;
        },
        quiet,
      );
      const reply = await requestService(bus, request(family), { timeoutMs: 5000 });
      assert.ok(!isEnvelopeError(reply));
      assert.equal(finished, false);
      release();
      sub.unsubscribe();
    });

    test("nobody serving: NO_RESPONDERS; after unsubscribe: NO_RESPONDERS again", async () => {
      const bus = await open();
      const family = nextFamily++;
      await rejectsWith(requestService(bus, request(family), { timeoutMs: 5000 }), "NO_RESPONDERS");
      const sub = serveRequests(bus, family, async (_r, _h, respond) => respond(REPLY), quiet);
      await requestService(bus, request(family), { timeoutMs: 5000 });
      sub.unsubscribe();
      await rejectsWith(requestService(bus, request(family), { timeoutMs: 5000 }), "NO_RESPONDERS");
    });

    test("a server that never answers or throws: TIMEOUT for the caller, the error is reported, nothing crashes", async () => {
      const bus = await open();
      const family = nextFamily++;
      const errors: unknown[] = [];
      const sub = serveRequests(bus, family, async () => {}, quiet);
      await rejectsWith(requestService(bus, request(family), { timeoutMs: 100 }), "TIMEOUT");
      sub.unsubscribe();
      const boom = new Error("boom");
      const sub2 = serveRequests(
        bus,
        family,
        async () => {
          throw boom;
        },
        { onUndecodable: () => {}, onError: (e) => errors.push(e) },
      );
      // On NATS the bus's own handler runner reports it (onHandlerError); in-process, onError does.
      await rejectsWith(requestService(bus, request(family), { timeoutMs: 100 }), "TIMEOUT");
      sub2.unsubscribe();
      if (bus.kind === "memory") assert.deepEqual(errors, [boom]);
    });

    test("a delivery reaches the edge's server and its count comes back, sync or async", async () => {
      const bus = await open();
      const edge = `e${randomBytes(5).toString("hex")}`;
      const got: DeliveryEnvelope[] = [];
      const sub = serveDeliveries(
        bus,
        edge,
        (env) => {
          got.push(env);
          return env.account === "sync" ? 2 : Promise.resolve(3);
        },
        quiet,
      );
      const a = await deliverToEdge(bus, edge, delivery("sync"), { timeoutMs: 5000 });
      const b = await deliverToEdge(bus, edge, delivery("async"), { timeoutMs: 5000 });
      assert.deepEqual([a, b], [{ delivered: 2 }, { delivered: 3 }]);
      assert.deepEqual(
        got.map((e) => ({ ...e, frames: Buffer.from(e.frames) })),
        [delivery("sync"), delivery("async")],
      );
      sub.unsubscribe();
      await rejectsWith(deliverToEdge(bus, edge, delivery("x"), { timeoutMs: 5000 }), "NO_RESPONDERS");
    });

    test("encoded on the bus: a raw request gets an encoded reply, an empty message to an edge is a probe", async () => {
      const bus = await open();
      const family = nextFamily++;
      const edge = `e${randomBytes(5).toString("hex")}`;
      const s1 = serveRequests(bus, family, async (_r, _h, respond) => respond(REPLY), quiet);
      const s2 = serveDeliveries(bus, edge, () => 5, quiet);
      const raw = await bus.request(subjects.request(family), encodeRequest(request(family)), {
        timeoutMs: 5000,
      });
      const reply = decodeReply(raw.data);
      assert.ok(!isEnvelopeError(reply));
      assert.deepEqual(Buffer.from(reply.frames), REPLY.frames);
      const ack = await bus.request(subjects.edge(edge), encodeDelivery(delivery("x")), { timeoutMs: 5000 });
      assert.deepEqual(decodeDeliveryAck(ack.data), { delivered: 5 });
      const probe = await bus.request(subjects.edge(edge), new Uint8Array(0), { timeoutMs: 5000 });
      assert.deepEqual(decodeDeliveryAck(probe.data), { delivered: 0 });
      // Garbage is acked 0 and reported, never answered as a delivery.
      const bad: string[] = [];
      s2.unsubscribe();
      const s3 = serveDeliveries(bus, edge, () => 5, {
        onUndecodable: (e) => bad.push(e.kind),
        onError: () => {},
      });
      const junk = await bus.request(subjects.edge(edge), Buffer.from([9, 9, 9]), { timeoutMs: 5000 });
      assert.deepEqual(decodeDeliveryAck(junk.data), { delivered: 0 });
      assert.equal(bad.length, 1);
      s1.unsubscribe();
      s3.unsubscribe();
    });

    test("a stand-in subscribed on the bus (no server registered here) still gets the call, encoded", async () => {
      const bus = await open();
      const family = nextFamily++;
      const seen: RequestEnvelope[] = [];
      const sub = bus.subscribe(subjects.request(family), (msg) => {
        const req = decodeRequest(msg.data);
        if (isEnvelopeError(req)) throw req;
        seen.push(req);
        msg.respond(encodeReply(REPLY));
      });
      const reply = await requestService(bus, request(family), { timeoutMs: 5000 });
      assert.ok(!isEnvelopeError(reply));
      assert.equal(seen.length, 1);
      sub.unsubscribe();
    });

    test("after close: CLOSED", async () => {
      const bus = await makeBus();
      const family = nextFamily++;
      serveRequests(bus, family, async (_r, _h, respond) => respond(REPLY), quiet);
      await bus.close();
      await rejectsWith(requestService(bus, request(family), { timeoutMs: 1000 }), "CLOSED");
    });
  });
}
