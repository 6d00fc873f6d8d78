import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, test } from "node:test";
import {
  type Bus,
  createMemoryBus,
  decodeReply,
  encodeRequest,
  isEnvelopeError,
  ReplyAction,
  type ReplyEnvelope,
  type RequestEnvelope,
  subjects,
} from "@impp/bus";
import { Flags, GlobalError, TlvWriter } from "@impp/protocol";
import { createTelemetry, type Telemetry } from "@impp/telemetry";
import { route } from "./module.js";
import { errorReply, responseFrame } from "./request.js";
import {
  dispatcher,
  type FamilyServer,
  type RequestHandler,
  replyErrorCode,
  serveFamily,
  splitOutcome,
} from "./serve.js";
import { errorCode, only, requestBuilder } from "./testing.js";

const FAMILY = 2;
const request = requestBuilder({ family: FAMILY, type: 1, sequence: 4242 });

const echo: RequestHandler = async (req) => ({ actions: 0, frames: responseFrame(req, new TlvWriter()) });

/** Log lines captured as parsed JSON, to count what the service said about dropped input. */
function logSink(): { stream: Writable; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l));
      done();
    },
  });
  return { stream, lines };
}

describe("dispatcher: a handler's exception", () => {
  const routesFor = (handle: () => Promise<ReplyEnvelope>) =>
    [1, 0x4001].map((type) => route({ type, session: "anonymous", shape: {}, handle }));
  const dispatch = (handle: () => Promise<ReplyEnvelope>) =>
    dispatcher(routesFor(handle), undefined, { domain: "example.com" }, undefined);
  const fail = async (): Promise<ReplyEnvelope> => {
    throw new Error("backend down");
  };

  test("a throwing handler becomes SERVICE_UNAVAILABLE echoing family, type and sequence", async () => {
    const r = splitOutcome(await dispatch(fail)(request(Buffer.alloc(0)))).reply;
    const f = only(r.frames);
    assert.equal(r.actions, 0);
    assert.equal(errorCode(f), GlobalError.SERVICE_UNAVAILABLE);
    assert.deepEqual([f.family, f.type, f.sequence], [FAMILY, 1, 4242]);
    assert.equal(f.flags, Flags.ERROR);
  });

  test("the error carries the extension bit when the request had it or was in the extension range", async () => {
    for (const over of [{ flags: Flags.EXTENSION }, { type: 0x4001 }, { family: 0x4002 }]) {
      const req = request(Buffer.alloc(0), over);
      const f = only(splitOutcome(await dispatch(fail)(req)).reply.frames);
      assert.equal(f.flags, Flags.ERROR | Flags.EXTENSION, JSON.stringify(over));
      assert.deepEqual([f.family, f.type, f.sequence], [req.family, req.type, 4242]);
    }
  });

  test("a handler that answers is passed through untouched", async () => {
    const req = request(Buffer.alloc(0));
    const reply = errorReply(req, GlobalError.INVALID_TLV_VALUE, 3);
    assert.equal(await dispatch(async () => reply)(req), reply);
  });
});

test("replyErrorCode: the code of an error frame, undefined for a response or a short buffer", () => {
  const req = request(Buffer.alloc(0));
  assert.equal(replyErrorCode(errorReply(req, GlobalError.SERVICE_UNAVAILABLE).frames), 1);
  assert.equal(replyErrorCode(responseFrame(req, new TlvWriter())), undefined);
  assert.equal(
    replyErrorCode(errorReply(req, GlobalError.SERVICE_UNAVAILABLE).frames.subarray(0, 21)),
    undefined,
  );
});

describe("serveFamily", () => {
  let bus: Bus;
  let telemetry: Telemetry;
  let sink: ReturnType<typeof logSink>;
  let server: FamilyServer | undefined;

  beforeEach(() => {
    bus = createMemoryBus();
    sink = logSink();
    telemetry = createTelemetry({ serviceName: "kit-test", logLevel: "warn", logDestination: sink.stream });
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await bus.close();
    await telemetry.shutdown();
  });

  async function call(req: RequestEnvelope | Uint8Array, timeoutMs = 5000): Promise<ReplyEnvelope> {
    const data = req instanceof Uint8Array ? req : encodeRequest(req);
    const msg = await bus.request(subjects.request(FAMILY), data, { timeoutMs });
    const reply = decodeReply(msg.data);
    if (isEnvelopeError(reply)) throw reply;
    return reply;
  }

  test("a throwing handler is answered SERVICE_UNAVAILABLE over the bus, with the extension bit when asked, and counted", async () => {
    server = serveFamily(bus, telemetry, "kit", FAMILY, async () => {
      throw new Error("backend down");
    });
    const plain = only((await call(request(Buffer.alloc(0)))).frames);
    assert.equal(errorCode(plain), GlobalError.SERVICE_UNAVAILABLE);
    assert.deepEqual([plain.flags, plain.family, plain.type, plain.sequence], [Flags.ERROR, FAMILY, 1, 4242]);

    const ext = only((await call(request(Buffer.alloc(0), { flags: Flags.EXTENSION, sequence: 9 }))).frames);
    assert.equal(errorCode(ext), GlobalError.SERVICE_UNAVAILABLE);
    assert.deepEqual(
      [ext.flags, ext.family, ext.type, ext.sequence],
      [Flags.ERROR | Flags.EXTENSION, FAMILY, 1, 9],
    );

    const counted = (await telemetry.metrics.errors.get()).values.find(
      (v) => v.labels["family"] === "DEVICE" && v.labels["code"] === "SERVICE_UNAVAILABLE",
    );
    assert.equal(counted?.value, 2);
    assert.equal(sink.lines.filter((l) => l.msg.startsWith("request handler failed")).length, 2);
  });

  test("an undecodable envelope gets no reply, is logged once, and the next request is served", async () => {
    let handled = 0;
    server = serveFamily(bus, telemetry, "kit", FAMILY, async (req) => {
      handled++;
      return echo(req);
    });
    await assert.rejects(
      call(Buffer.from([9, 9, 9]), 200),
      (e: unknown) => e instanceof Error && (e as { kind?: string }).kind === "TIMEOUT",
    );
    assert.equal(handled, 0);
    assert.equal(sink.lines.filter((l) => l.msg === "undecodable request envelope dropped").length, 1);

    const ok = only((await call(request(Buffer.alloc(0), { sequence: 5 }))).frames);
    assert.deepEqual([ok.flags, ok.sequence], [Flags.RESPONSE, 5]);
    assert.equal(handled, 1);
  });

  test("a request past its deadline is answered SERVICE_UNAVAILABLE without running the handler, logged and counted", async () => {
    let handled = 0;
    let clock = 1_000_000;
    server = serveFamily(
      bus,
      telemetry,
      "kit",
      FAMILY,
      async (req) => {
        handled++;
        return echo(req);
      },
      () => clock,
    );
    const late = only((await call(request(Buffer.alloc(0), { deadline: clock - 1, sequence: 7 }))).frames);
    assert.equal(errorCode(late), GlobalError.SERVICE_UNAVAILABLE);
    assert.equal(late.sequence, 7);
    assert.equal(handled, 0);
    assert.equal(sink.lines.filter((l) => l.msg === "request past its deadline dropped").length, 1);
    const counted = (await telemetry.metrics.requestsExpired.get()).values.find(
      (v) => v.labels["family"] === "DEVICE",
    );
    assert.equal(counted?.value, 1);
    // At the deadline itself, and without one (an older edge), the request is served.
    const onTime = only((await call(request(Buffer.alloc(0), { deadline: clock, sequence: 8 }))).frames);
    assert.deepEqual([onTime.flags, onTime.sequence], [Flags.RESPONSE, 8]);
    clock += 10_000_000;
    const none = only((await call(request(Buffer.alloc(0), { sequence: 9 }))).frames);
    assert.deepEqual([none.flags, none.sequence], [Flags.RESPONSE, 9]);
    assert.equal(handled, 2);
  });

  test("the device record is sent only to edges that send deadlines (older edges refuse its action bit)", async () => {
    server = serveFamily(bus, telemetry, "kit", FAMILY, async (req) => ({
      actions: ReplyAction.SET_DEVICE | ReplyAction.DEVICE_RECORD,
      device: "phone",
      record: Uint8Array.from([1, 2, 3]),
      frames: responseFrame(req, new TlvWriter()),
    }));
    const current = await call(request(Buffer.alloc(0), { deadline: Date.now() + 60_000 }));
    assert.equal(current.actions, ReplyAction.SET_DEVICE | ReplyAction.DEVICE_RECORD);
    assert.deepEqual([...(current.record ?? [])], [1, 2, 3]);
    const older = await call(request(Buffer.alloc(0)));
    assert.equal(older.actions, ReplyAction.SET_DEVICE);
    assert.equal(older.record, undefined);
  });

  test("a reply that cannot be encoded is answered SERVICE_UNAVAILABLE", async () => {
    server = serveFamily(bus, telemetry, "kit", FAMILY, async (req) => ({
      actions: 0x80,
      frames: responseFrame(req, new TlvWriter()),
    }));
    const reply = await call(request(Buffer.alloc(0)));
    assert.equal(reply.actions, 0);
    assert.equal(errorCode(only(reply.frames)), GlobalError.SERVICE_UNAVAILABLE);
  });

  test("subscribes in the family's queue group: two servers share the requests, each answered once", async () => {
    const seen: string[] = [];
    const tagged =
      (tag: string): RequestHandler =>
      async (req) => {
        seen.push(tag);
        return echo(req);
      };
    server = serveFamily(bus, telemetry, "kit", FAMILY, tagged("a"));
    const other = serveFamily(bus, telemetry, "kit", FAMILY, tagged("b"));
    for (let i = 0; i < 6; i++) await call(request(Buffer.alloc(0), { sequence: i }));
    await other.stop();
    await server.stop();
    server = undefined;
    assert.equal(seen.length, 6);
  });

  test("stop() waits for the requests in flight and takes no more", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finished = false;
    const s = serveFamily(bus, telemetry, "kit", FAMILY, async (req) => {
      await gate;
      finished = true;
      return echo(req);
    });
    const pending = call(request(Buffer.alloc(0)));
    await new Promise((resolve) => setImmediate(resolve));
    let stopDone = false;
    const stopped = s.stop().then(() => {
      stopDone = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopDone, false, "stop() resolved while a handler was still running");
    release();
    await stopped;
    assert.ok(finished);
    await pending;
    await assert.rejects(
      call(request(Buffer.alloc(0)), 200),
      (e: unknown) => (e as { kind?: string }).kind === "NO_RESPONDERS",
    );
  });
});
