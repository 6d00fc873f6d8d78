import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { type Bus, createMemoryBus, decodeReply, encodeRequest, isEnvelopeError, subjects } from "@impp/bus";
import { GlobalError, TlvBlock, TlvWriter } from "@impp/protocol";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { createTelemetry, type Telemetry } from "@impp/telemetry";
import { defineEvent, publishEvent, subscribeEvent } from "./events.js";
import { checkModules, defineModule, type FamilyModule, route, selectModules } from "./module.js";
import { errorReply, responseFrame } from "./request.js";
import { startModule } from "./serve.js";
import { errorCode, handlerFor, only, requestBuilder, testConfig } from "./testing.js";

const FAMILY = 7;
const request = requestBuilder({ family: FAMILY, type: 1, account: "tricia", device: "laptop" });

interface EchoState {
  log: string[];
  /** Resolves the follow-up of the last request (tests hold it open to see the answer come first). */
  release?: () => void;
}

const echoShape = { name: { tlv: 2, kind: "string", required: true, maxBytes: 8 } } as const;

function echoModule(role = "echo", over: Partial<FamilyModule<EchoState>> = {}): FamilyModule<EchoState> {
  return defineModule<EchoState>({
    role,
    description: "test module",
    families: [
      {
        family: FAMILY,
        routes: [
          route({
            type: 1,
            session: "bound",
            shape: echoShape,
            async handle(req, state: EchoState) {
              state.log.push(`handle ${req.fields.name}`);
              const reply = {
                actions: 0,
                frames: responseFrame(req.envelope, new TlvWriter().string(2, req.fields.name)),
              };
              return {
                reply,
                after: async () => {
                  await new Promise<void>((resolve) => {
                    state.release = resolve;
                  });
                  state.log.push(`after ${req.fields.name}`);
                },
              };
            },
          }),
          route({
            type: 2,
            session: "anonymous",
            shape: {},
            async handle(req) {
              return errorReply(req.envelope, 0x8001);
            },
          }),
        ],
      },
    ],
    async start() {
      return { state: { log: [] } };
    },
    ...over,
  });
}

describe("module registry checks", () => {
  test("a good registry comes back in dependency order", () => {
    const a = echoModule("a", { families: [], depends: ["b"] });
    const b = echoModule("b", { families: [] });
    assert.deepEqual(
      checkModules([a, b]).map((m) => m.role),
      ["b", "a"],
    );
    assert.deepEqual(
      selectModules([a, b], ["a"]).map((m) => m.role),
      ["a"],
    );
    assert.throws(() => selectModules([a, b], ["c"]), /no module for role c/);
  });

  test("every problem is named at once: twice a role, a family served twice, unknown dependency and setting", () => {
    const err = (() => {
      try {
        checkModules([
          echoModule("echo"),
          echoModule("echo"),
          echoModule("other", { depends: ["ghost"], settings: ["IMPP_NOPE"] }),
          echoModule("Bad Name", { families: [] }),
          echoModule("tables", { families: [], migrations: { table: "t_migration", list: [] } }),
        ]);
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })();
    assert.match(err, /role "echo" is declared twice/);
    assert.match(err, /family GROUP_CHATS is served by both "echo" and "echo"/);
    assert.match(err, /depends on "ghost", which is no module/);
    assert.match(err, /setting IMPP_NOPE does not exist/);
    assert.match(err, /role "Bad Name"/);
    assert.match(err, /tables has migrations but does not declare needs.store/);
  });

  test("two routes for one type, two modules on one migration table, and dependency cycles are refused", () => {
    const dup = echoModule("dup");
    const twice = {
      ...dup,
      families: [{ family: 9, routes: [...dup.families![0]!.routes, dup.families![0]!.routes[0]!] }],
    };
    assert.throws(() => checkModules([twice]), /has two routes/);
    const set = { table: "shared_migration", list: [] };
    assert.throws(
      () =>
        checkModules([
          echoModule("x", { families: [], needs: { store: true }, migrations: set }),
          echoModule("y", { families: [], needs: { store: true }, migrations: set }),
        ]),
      /share migration table/,
    );
    assert.throws(
      () =>
        checkModules([
          echoModule("p", { families: [], depends: ["q"] }),
          echoModule("q", { families: [], depends: ["p"] }),
        ]),
      /dependency cycle/,
    );
  });

  test("a module that needs the store is not started without one", async () => {
    const m = echoModule("needy", { needs: { store: true } });
    const bus = createMemoryBus();
    const sessions = createMemorySessionStore();
    const telemetry = createTelemetry({ serviceName: "kit-test", logLevel: "silent" });
    await assert.rejects(
      startModule(m, { bus, sessions, store: undefined, config: testConfig(), telemetry }),
      /needs the store/,
    );
    await bus.close();
    await sessions.close();
    await telemetry.shutdown();
  });
});

describe("the kit dispatching a module's requests", () => {
  const state: EchoState = { log: [] };
  const handle = (req: ReturnType<typeof request>) => {
    const p = handlerFor(echoModule(), FAMILY, state, { domain: "" })(req);
    // handlerFor waits for the follow-up: let it finish.
    setImmediate(() => state.release?.());
    return p;
  };

  test("session preconditions: INVALID_STATE before the handler runs", async () => {
    state.log.length = 0;
    assert.equal(errorCode(only((await handle(request(Buffer.alloc(0), { device: "" }))).frames)), 3);
    assert.equal(
      errorCode(only((await handle(request(Buffer.alloc(0), { type: 2 }))).frames)),
      3,
      "anonymous only",
    );
    assert.equal(
      errorCode(only((await handle(request(Buffer.alloc(0), { type: 2, account: "", device: "" }))).frames)),
      0x8001,
    );
    assert.deepEqual(state.log, []);
  });

  test("unknown type → INVALID_TLV_VALUE; malformed block → the shape's error; the handler never sees either", async () => {
    state.log.length = 0;
    assert.equal(errorCode(only((await handle(request(Buffer.alloc(0), { type: 9 }))).frames)), 6);
    assert.equal(
      errorCode(only((await handle(request(Buffer.alloc(0)))).frames)),
      GlobalError.INVALID_TLV_VALUE,
    );
    assert.equal(
      errorCode(only((await handle(request(new TlvWriter().string(2, "too long a name").finish()))).frames)),
      GlobalError.INVALID_TLV_VALUE,
    );
    assert.equal(errorCode(only((await handle(request(Buffer.from([0, 2, 0, 9])))).frames)), 5);
    assert.deepEqual(state.log, []);
    const ok = only((await handle(request(new TlvWriter().string(2, "ford").finish()))).frames);
    assert.equal((TlvBlock.parse(ok.block) as TlvBlock).string(2), "ford");
    assert.deepEqual(state.log, ["handle ford", "after ford"]);
  });
});

describe("a module served on the bus", () => {
  let bus: Bus;
  let sessions: SessionStore;
  let telemetry: Telemetry;

  beforeEach(() => {
    bus = createMemoryBus();
    sessions = createMemorySessionStore();
    telemetry = createTelemetry({ serviceName: "kit-test", logLevel: "silent" });
  });
  afterEach(async () => {
    await bus.close();
    await sessions.close();
    await telemetry.shutdown();
  });

  test("the reply goes out before the follow-up work, and stop waits for that work", async () => {
    const served = await startModule(echoModule(), {
      bus,
      sessions,
      store: undefined,
      config: testConfig(),
      telemetry,
    });
    const state = served.started.state;
    const msg = await bus.request(
      subjects.request(FAMILY),
      encodeRequest(request(new TlvWriter().string(2, "zaphod").finish())),
      { timeoutMs: 2000 },
    );
    const reply = decodeReply(msg.data);
    assert.ok(!isEnvelopeError(reply));
    assert.equal(only(reply.frames).flags, 1);
    // The requester has its answer while the follow-up is still held open.
    assert.deepEqual(state.log, ["handle zaphod"]);
    let stopped = false;
    const stopping = served.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(stopped, false, "stop waits for the follow-up");
    state.release?.();
    await stopping;
    assert.deepEqual(state.log, ["handle zaphod", "after zaphod"]);
  });
});

describe("events", () => {
  const greeting = defineEvent<{ who: string; n: number }>({
    name: "greeting",
    size: (e) => 1 + Buffer.byteLength(e.who) + 2,
    write(w, e) {
      w.str(e.who, Buffer.byteLength(e.who));
      w.u16(e.n);
    },
    read: (r) => ({ who: r.str("who"), n: r.u16("n") }),
  });

  test("published by the module that defines them, one instance per role gets each, bad bytes are dropped", async () => {
    const bus = createMemoryBus();
    const got: string[] = [];
    const a1 = subscribeEvent(bus, greeting, async (e) => void got.push(`a:${e.who}:${e.n}`), { role: "a" });
    const a2 = subscribeEvent(bus, greeting, async (e) => void got.push(`a:${e.who}:${e.n}`), { role: "a" });
    const b = subscribeEvent(bus, greeting, async (e) => void got.push(`b:${e.who}:${e.n}`), { role: "b" });
    assert.equal(greeting.subject, "impp.evt.greeting");
    publishEvent(bus, greeting, { who: "ford", n: 42 });
    bus.publish(greeting.subject, Buffer.from([1, 5, 9]));
    await bus.flush();
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got.sort(), ["a:ford:42", "b:ford:42"]);
    assert.throws(() => defineEvent({ ...greeting, name: "a.b" }));
    await Promise.all([a1.stop(), a2.stop(), b.stop()]);
    await bus.close();
  });
});
