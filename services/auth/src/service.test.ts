import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Bus,
  createMemoryBus,
  decodeReply,
  encodeRequest,
  isEnvelopeError,
  ReplyAction,
  subjects,
} from "@impp/bus";
import { Family, StreamTlv, TlvWriter } from "@impp/protocol";
import { type ServedModule, startModule } from "@impp/service-kit";
import { only, testConfig } from "@impp/service-kit/testing";
import { createMemorySessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { createTelemetry, type Telemetry } from "@impp/telemetry";
import { accountsMigrations } from "./accounts.js";
import { createAccountsAdmin } from "./admin.js";
import { type AuthState, authModule } from "./module.js";
import { request } from "./test-support.js";

interface RecordedSpan {
  name: string;
  spanContext(): { traceId: string };
  parentSpanContext?: { spanId: string };
}

describe("auth service on the bus", () => {
  let bus: Bus;
  let store: Store;
  let telemetry: Telemetry;
  let service: ServedModule<AuthState>;
  const spans: RecordedSpan[] = [];

  before(async () => {
    bus = createMemoryBus();
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    await createAccountsAdmin(store).add("tricia", "password");
    telemetry = createTelemetry({
      serviceName: "auth-test",
      logLevel: "silent",
      spanExporter: {
        export(batch, done) {
          spans.push(...(batch as unknown as RecordedSpan[]));
          done({ code: 0 });
        },
        shutdown: async () => {},
      },
    });
    service = await startModule(authModule, {
      bus,
      store,
      sessions: createMemorySessionStore(),
      config: testConfig(),
      telemetry,
    });
  });
  after(async () => {
    await service.stop();
    await bus.close();
    await store.close();
    await telemetry.shutdown();
  });

  test("answers a request envelope with a reply envelope, continuing the caller's trace", async () => {
    const block = new TlvWriter()
      .u16(StreamTlv.MECHANISM, 1)
      .string(StreamTlv.NAME, "tricia")
      .string(StreamTlv.PASSWORD, "password")
      .finish();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const msg = await bus.request(subjects.request(Family.STREAM), encodeRequest(request(block)), {
      timeoutMs: 5000,
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const reply = decodeReply(msg.data);
    assert.ok(!isEnvelopeError(reply));
    assert.equal(reply.actions, ReplyAction.SET_ACCOUNT);
    assert.equal(reply.account, "tricia");
    assert.equal(only(reply.frames).flags, 1);
    const span = spans.find((s) => s.spanContext().traceId === traceId);
    assert.ok(span, "a span in the caller's trace");
    assert.equal(span.parentSpanContext?.spanId, "00f067aa0ba902b7");
  });
});
