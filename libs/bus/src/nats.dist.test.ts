// The Bus contract on a real NATS server, plus what only a real network shows:
// two connections (two processes' worth) talking, and connection failure.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import type { Bus, BusMessage } from "./bus.js";
import { BusError } from "./bus.js";
import { runBusContract, runCallsContract } from "./contract.js";
import { connectNatsBus } from "./nats.js";

const url = process.env.IMPP_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
// Random per run, so parallel runs against one server never see each other's messages.
const prefix = `test.bus.${randomBytes(6).toString("hex")}`;
const connect = (): Promise<Bus> => connectNatsBus({ url, name: "impp-bus-test", onHandlerError: () => {} });

runBusContract("nats", connect, { subjectPrefix: prefix });

// The same contract inside a namespace (IMPP_NATS_PREFIX): subjects seen by handlers stay
// unprefixed, replies still find their way, wildcards and queue groups work within it.
const namespace = `ns${randomBytes(4).toString("hex")}`;
runBusContract(
  "nats with a subject prefix",
  () => connectNatsBus({ url, name: "impp-bus-test", onHandlerError: () => {}, subjectPrefix: namespace }),
  { subjectPrefix: prefix },
);

// The calls edges and services make of each other, encoded; a namespace of its own per run.
runCallsContract("nats (encoded envelopes)", () =>
  connectNatsBus({ url, onHandlerError: () => {}, subjectPrefix: `calls${randomBytes(4).toString("hex")}` }),
);

describe("NATS subject prefixes", () => {
  test("buses in different namespaces never see each other's messages or answer each other's requests", async () => {
    const tag = randomBytes(4).toString("hex");
    const mk = (ns: string) =>
      connectNatsBus({ url, onHandlerError: () => {}, subjectPrefix: `${ns}${tag}` });
    const [a1, a2, b] = [await mk("a"), await mk("a"), await mk("b")];
    try {
      const seenByB: string[] = [];
      b.subscribe(
        "impp.req.1",
        (m) => {
          seenByB.push(m.subject);
          m.respond(Buffer.from("from b"));
        },
        { queue: "impp.svc.1" },
      );
      a2.subscribe(
        "impp.req.1",
        (m) => {
          assert.equal(m.subject, "impp.req.1");
          m.respond(Buffer.from("from a"));
        },
        { queue: "impp.svc.1" },
      );
      await b.flush();
      await a2.flush();
      for (let i = 0; i < 20; i++) {
        const reply = await a1.request("impp.req.1", Buffer.from("q"), { timeoutMs: 2000 });
        assert.equal(Buffer.from(reply.data).toString(), "from a");
      }
      assert.deepEqual(seenByB, []);
      const lonely = await mk("c");
      await assert.rejects(lonely.request("impp.req.1", Buffer.from("q"), { timeoutMs: 2000 }), (e) => {
        assert.ok(e instanceof BusError);
        assert.equal(e.kind, "NO_RESPONDERS");
        return true;
      });
      await lonely.close();
    } finally {
      await Promise.all([a1.close(), a2.close(), b.close()]);
    }
  });

  test("a prefix that is not a subject is refused", async () => {
    await assert.rejects(connectNatsBus({ url, subjectPrefix: "bad prefix" }), (e) => {
      assert.ok(e instanceof BusError);
      assert.equal(e.kind, "BAD_SUBJECT");
      return true;
    });
  });
});

describe("NATS bus across connections", () => {
  const buses: Bus[] = [];
  after(async () => {
    for (const b of buses) await b.close();
  });
  const open = async (): Promise<Bus> => {
    const b = await connect();
    buses.push(b);
    return b;
  };

  test("kind and limits come from the server", async () => {
    const bus = await open();
    assert.equal(bus.kind, "nats");
    assert.ok(bus.maxPayload >= 1024 * 1024);
  });

  test("queue group spread over two connections; requests from a third", async () => {
    const [a, b, client] = [await open(), await open(), await open()];
    const subject = `${prefix}.x.svc`;
    const handledBy: string[] = [];
    for (const [name, bus] of [
      ["a", a],
      ["b", b],
    ] as const) {
      bus.subscribe(
        subject,
        (m) => {
          handledBy.push(name);
          m.respond(m.data, { "x-by": name });
        },
        { queue: "svc" },
      );
      await bus.flush(); // the server knows the interest before requests go out
    }
    for (let i = 0; i < 100; i++) {
      const r: BusMessage = await client.request(subject, Buffer.from([i]), {
        timeoutMs: 10_000,
        headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      });
      assert.deepEqual([...r.data], [i]);
      assert.ok(r.headers?.["x-by"] === "a" || r.headers?.["x-by"] === "b");
    }
    assert.equal(handledBy.length, 100, "each request handled once");
    assert.ok(handledBy.includes("a") && handledBy.includes("b"), "both members served");
  });

  test("NO_RESPONDERS once the only responder on another connection closes", async () => {
    const [server, client] = [await open(), await connect()];
    const subject = `${prefix}.x.gone`;
    server.subscribe(subject, (m) => {
      m.respond(new Uint8Array(0));
    });
    await server.flush();
    await client.request(subject, new Uint8Array(0), { timeoutMs: 10_000 });
    await server.close();
    await assert.rejects(client.request(subject, new Uint8Array(0), { timeoutMs: 60_000 }), {
      kind: "NO_RESPONDERS",
    });
    await client.close();
  });

  test("an unreachable server is a CONNECTION error, with credentials kept out of the message", async () => {
    await assert.rejects(
      connectNatsBus({ url: "nats://user:secret@127.0.0.1:1", connectTimeoutMs: 2000 }),
      (e) => {
        assert.ok(e instanceof BusError);
        assert.equal(e.kind, "CONNECTION");
        assert.ok(!e.message.includes("secret"), e.message);
        return true;
      },
    );
  });
});
