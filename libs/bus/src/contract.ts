// The Bus contract: one suite that every implementation must pass, so services
// can be written against the interface alone. Import from "@impp/bus/contract".
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { type Bus, BusError, type BusErrorKind, type BusMessage } from "./bus.js";

export interface BusContractOptions {
  /** Every subject the suite uses starts with this; each test adds its own random token too. */
  subjectPrefix?: string;
}

/** Waits for a condition driven by message delivery; the bound only keeps a broken bus from hanging the run. */
async function eventually(what: string, cond: () => boolean, limitMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) assert.fail(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function rejectsWith(p: Promise<unknown>, kind: BusErrorKind): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BusError, `expected a BusError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

function throwsWith(f: () => unknown, kind: BusErrorKind): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof BusError, `expected a BusError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function readU32(d: Uint8Array): number {
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).readUInt32BE(0);
}

export function runBusContract(
  name: string,
  makeBus: () => Promise<Bus>,
  options: BusContractOptions = {},
): void {
  const root = options.subjectPrefix ?? "contract";
  const opened: Bus[] = [];

  async function open(): Promise<{ bus: Bus; p: string }> {
    const bus = await makeBus();
    opened.push(bus);
    return { bus, p: `${root}.${randomBytes(6).toString("hex")}` };
  }

  /**
   * Publishes a sentinel and waits for it. A publisher's messages reach the
   * subscriptions of one bus in publish order, so once the sentinel is in,
   * everything published before it has been delivered.
   */
  async function barrier(bus: Bus, p: string): Promise<void> {
    let seen = false;
    const sub = bus.subscribe(`${p}_barrier`, () => {
      seen = true;
    });
    bus.publish(`${p}_barrier`, new Uint8Array(0));
    await eventually("barrier", () => seen);
    sub.unsubscribe();
  }

  describe(`Bus contract: ${name}`, () => {
    after(async () => {
      for (const bus of opened) await bus.close();
    });

    test("publish reaches a subscriber asynchronously, with subject, data and no reply", async () => {
      const { bus, p } = await open();
      const got: BusMessage[] = [];
      bus.subscribe(`${p}.a`, (m) => {
        got.push(m);
      });
      bus.publish(`${p}.a`, Buffer.from("hello"));
      assert.equal(got.length, 0, "a handler must never run inside publish");
      await eventually("delivery", () => got.length === 1);
      const m = got[0]!;
      assert.equal(m.subject, `${p}.a`);
      assert.equal(Buffer.from(m.data).toString(), "hello");
      assert.equal(m.reply, undefined);
      assert.equal(m.headers, undefined);
      assert.equal(m.respond(new Uint8Array(1)), false);
    });

    test("wildcards: * matches one token, > one or more", async () => {
      const { bus, p } = await open();
      const seen = new Map<string, string[]>();
      for (const pattern of ["a.*", "a.>", "*.c", ">", "a.b"]) {
        const list: string[] = [];
        seen.set(pattern, list);
        bus.subscribe(`${p}.${pattern}`, (m) => {
          list.push(m.subject.slice(p.length + 1));
        });
      }
      for (const s of ["a.b", "a.b.c", "x.c", "a", "b.b"]) bus.publish(`${p}.${s}`, new Uint8Array(0));
      await barrier(bus, p);
      assert.deepEqual(seen.get("a.*"), ["a.b"]);
      assert.deepEqual(seen.get("a.>"), ["a.b", "a.b.c"]);
      assert.deepEqual(seen.get("*.c"), ["x.c"]);
      assert.deepEqual(seen.get(">"), ["a.b", "a.b.c", "x.c", "a", "b.b"]);
      assert.deepEqual(seen.get("a.b"), ["a.b"]);
    });

    test("invalid subjects are refused with BAD_SUBJECT", async () => {
      const { bus, p } = await open();
      for (const bad of ["", `${p}..a`, `${p}.a b`, `${p}.`, `${p}.*`, `${p}.>`]) {
        throwsWith(() => bus.publish(bad, new Uint8Array(0)), "BAD_SUBJECT");
      }
      for (const bad of ["", `${p}..a`, `${p}.a b`, `${p}.>.a`]) {
        throwsWith(() => bus.subscribe(bad, () => {}), "BAD_SUBJECT");
      }
    });

    test("queue groups: each message to exactly one member; plain subscribers get all", async () => {
      const { bus, p } = await open();
      const total = 300;
      const members: number[][] = [[], [], []];
      const other: number[][] = [[], []];
      const plain: number[] = [];
      members.forEach((list) => {
        bus.subscribe(
          `${p}.q`,
          (m) => {
            list.push(readU32(m.data));
          },
          { queue: "workers" },
        );
      });
      other.forEach((list) => {
        // Same group name on a wildcard subscription: still one group per name.
        bus.subscribe(
          `${p}.*`,
          (m) => {
            list.push(readU32(m.data));
          },
          { queue: "others" },
        );
      });
      bus.subscribe(`${p}.q`, (m) => {
        plain.push(readU32(m.data));
      });
      for (let i = 0; i < total; i++) bus.publish(`${p}.q`, u32(i));
      await eventually("plain subscriber got everything", () => plain.length === total);
      await barrier(bus, p);
      const expected = Array.from({ length: total }, (_, i) => i);
      assert.deepEqual(plain, expected);
      for (const group of [members, other]) {
        const all = group.flat().sort((a, b) => a - b);
        assert.deepEqual(all, expected, "every message once, none twice");
        for (const list of group) assert.ok(list.length > 0, "load is spread over the members");
      }
    });

    test("request/reply with headers, through a queue group", async () => {
      const { bus, p } = await open();
      let handled = 0;
      for (let i = 0; i < 3; i++) {
        bus.subscribe(
          `${p}.svc`,
          (m) => {
            handled++;
            const out = Buffer.from(m.data).reverse();
            m.respond(out, { "x-trace": m.headers?.["x-trace"] ?? "none", "x-responder": String(i) });
          },
          { queue: "svc" },
        );
      }
      for (let i = 0; i < 20; i++) {
        const reply = await bus.request(`${p}.svc`, Buffer.from(`ab${i}`), {
          timeoutMs: 10_000,
          headers: { "x-trace": `t${i}` },
        });
        assert.equal(Buffer.from(reply.data).toString(), `${i}`.split("").reverse().join("") + "ba");
        assert.equal(reply.headers?.["x-trace"], `t${i}`);
      }
      await barrier(bus, p);
      assert.equal(handled, 20, "each request handled by one member");
    });

    test("async handlers can reply later", async () => {
      const { bus, p } = await open();
      bus.subscribe(`${p}.slow`, async (m) => {
        await new Promise((r) => setTimeout(r, 5));
        m.respond(Buffer.from("done"));
      });
      const reply = await bus.request(`${p}.slow`, new Uint8Array(0), { timeoutMs: 10_000 });
      assert.equal(Buffer.from(reply.data).toString(), "done");
    });

    test("headers round-trip on publish; empty headers arrive as none", async () => {
      const { bus, p } = await open();
      const got: BusMessage[] = [];
      bus.subscribe(`${p}.h`, (m) => {
        got.push(m);
      });
      const headers = {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "x-impp-account": "alice@example.com",
      };
      bus.publish(`${p}.h`, new Uint8Array([1]), headers);
      bus.publish(`${p}.h`, new Uint8Array([2]), {});
      await eventually("both", () => got.length === 2);
      assert.deepEqual(got[0]!.headers, headers);
      assert.equal(got[1]!.headers, undefined);
    });

    test("headers NATS cannot carry are refused with BAD_HEADER; headers count against maxPayload", async () => {
      const { bus, p } = await open();
      throwsWith(() => bus.publish(`${p}.h`, new Uint8Array(0), { "bad key": "v" }), "BAD_HEADER");
      throwsWith(() => bus.publish(`${p}.h`, new Uint8Array(0), { "a:b": "v" }), "BAD_HEADER");
      throwsWith(() => bus.publish(`${p}.h`, new Uint8Array(0), { k: "line\r\nbreak" }), "BAD_HEADER");
      await rejectsWith(
        bus.request(`${p}.h`, new Uint8Array(0), { timeoutMs: 1000, headers: { k: "a\nb" } }),
        "BAD_HEADER",
      );
      bus.publish(`${p}.h`, new Uint8Array(bus.maxPayload)); // exactly at the limit: fine
      throwsWith(
        () => bus.publish(`${p}.h`, new Uint8Array(bus.maxPayload), { k: "v" }),
        "PAYLOAD_TOO_LARGE",
      );
    });

    test("NO_RESPONDERS comes at once, not after the timeout", async () => {
      const { bus, p } = await open();
      // A minute-long timeout: were NO_RESPONDERS not immediate, this would be TIMEOUT and fail on kind.
      await rejectsWith(
        bus.request(`${p}.nobody`, new Uint8Array(0), { timeoutMs: 60_000 }),
        "NO_RESPONDERS",
      );
    });

    test("TIMEOUT when the responder stays silent; a late reply is dropped", async () => {
      const { bus, p } = await open();
      const held: BusMessage[] = [];
      bus.subscribe(`${p}.mute`, (m) => {
        held.push(m);
      });
      await rejectsWith(bus.request(`${p}.mute`, new Uint8Array(0), { timeoutMs: 50 }), "TIMEOUT");
      assert.equal(held.length, 1);
      assert.equal(held[0]!.respond(Buffer.from("late")), true, "responding to a gone requester is harmless");
      await barrier(bus, p);
    });

    test("unsubscribe stops delivery at once, even for messages already published", async () => {
      const { bus, p } = await open();
      const a: number[] = [];
      const b: number[] = [];
      const subA = bus.subscribe(`${p}.u`, (m) => {
        a.push(readU32(m.data));
      });
      bus.subscribe(`${p}.u`, (m) => {
        b.push(readU32(m.data));
      });
      assert.equal(subA.subject, `${p}.u`);
      bus.publish(`${p}.u`, u32(1));
      await barrier(bus, p);
      bus.publish(`${p}.u`, u32(2));
      subA.unsubscribe();
      subA.unsubscribe();
      bus.publish(`${p}.u`, u32(3));
      await barrier(bus, p);
      assert.deepEqual(a, [1]);
      assert.deepEqual(b, [1, 2, 3]);
    });

    test("handler exceptions and rejections are contained and counted", async () => {
      const { bus, p } = await open();
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown): void => {
        unhandled.push(e);
      };
      process.on("unhandledRejection", onUnhandled);
      try {
        const before = bus.handlerErrors;
        const ok: number[] = [];
        bus.subscribe(`${p}.boom`, () => {
          throw new Error("sync boom");
        });
        bus.subscribe(`${p}.boom`, async () => {
          await Promise.resolve();
          throw new Error("async boom");
        });
        bus.subscribe(`${p}.boom`, (m) => {
          ok.push(readU32(m.data));
        });
        bus.publish(`${p}.boom`, u32(1));
        bus.publish(`${p}.boom`, u32(2));
        await eventually("four contained errors", () => bus.handlerErrors - before === 4);
        await barrier(bus, p);
        assert.deepEqual(ok, [1, 2], "other subscribers still get every message");
        // The bus still works afterwards.
        bus.subscribe(`${p}.after`, (m) => {
          m.respond(m.data);
        });
        const r = await bus.request(`${p}.after`, u32(7), { timeoutMs: 10_000 });
        assert.equal(readU32(r.data), 7);
        await new Promise((r) => setImmediate(r));
        assert.deepEqual(unhandled, []);
        assert.equal(bus.handlerErrors - before, 4);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });

    test("binary integrity: 1 MiB and empty payloads, by publish and by request", async () => {
      const { bus, p } = await open();
      const big = randomBytes(1024 * 1024);
      assert.ok(bus.maxPayload >= big.length);
      const got: Uint8Array[] = [];
      bus.subscribe(`${p}.bin`, (m) => {
        got.push(m.data);
      });
      bus.subscribe(`${p}.echo`, (m) => {
        m.respond(m.data);
      });
      bus.publish(`${p}.bin`, big);
      bus.publish(`${p}.bin`, new Uint8Array(0));
      await eventually("both payloads", () => got.length === 2);
      assert.ok(Buffer.from(got[0]!).equals(big));
      assert.equal(got[1]!.length, 0);
      const echoed = await bus.request(`${p}.echo`, big, { timeoutMs: 20_000 });
      assert.ok(Buffer.from(echoed.data).equals(big));
      const empty = await bus.request(`${p}.echo`, new Uint8Array(0), { timeoutMs: 20_000 });
      assert.equal(empty.data.length, 0);
    });

    test("payloads over maxPayload are refused with PAYLOAD_TOO_LARGE", async () => {
      const { bus, p } = await open();
      throwsWith(() => bus.publish(`${p}.big`, new Uint8Array(bus.maxPayload + 1)), "PAYLOAD_TOO_LARGE");
    });

    test("messages from one publisher on one subject arrive in order", async () => {
      const { bus, p } = await open();
      const n = 2000;
      const got: number[] = [];
      bus.subscribe(`${p}.seq`, (m) => {
        got.push(readU32(m.data));
      });
      for (let i = 0; i < n; i++) bus.publish(`${p}.seq`, u32(i));
      await bus.flush();
      await eventually("all messages", () => got.length === n);
      assert.deepEqual(
        got,
        Array.from({ length: n }, (_, i) => i),
      );
    });

    test("close drains: earlier messages and running handlers finish, then everything fails CLOSED", async () => {
      const bus = await makeBus();
      const p = `${root}.${randomBytes(6).toString("hex")}`;
      const got: number[] = [];
      let slowDone = false;
      bus.subscribe(`${p}.c`, (m) => {
        got.push(readU32(m.data));
      });
      bus.subscribe(`${p}.slow`, async () => {
        await new Promise((r) => setTimeout(r, 30));
        slowDone = true;
      });
      bus.subscribe(`${p}.mute`, () => {});
      const pending = bus.request(`${p}.mute`, new Uint8Array(0), { timeoutMs: 60_000 });
      pending.catch(() => {});
      for (let i = 0; i < 10; i++) bus.publish(`${p}.c`, u32(i));
      bus.publish(`${p}.slow`, new Uint8Array(0));
      const closing = bus.close();
      await closing;
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "published before close: delivered");
      assert.ok(slowDone, "a running handler finished before close resolved");
      await rejectsWith(pending, "CLOSED");
      throwsWith(() => bus.publish(`${p}.c`, new Uint8Array(0)), "CLOSED");
      throwsWith(() => bus.subscribe(`${p}.c`, () => {}), "CLOSED");
      await rejectsWith(bus.request(`${p}.c`, new Uint8Array(0), { timeoutMs: 1000 }), "CLOSED");
      await rejectsWith(bus.flush(), "CLOSED");
      await bus.close();
      assert.equal(bus.close(), closing, "close is idempotent");
    });
  });
}
export { runCallsContract } from "./calls-contract.js";
