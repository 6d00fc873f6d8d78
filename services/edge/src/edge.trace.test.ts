// One trace covers edge → service → edge: a delivery carrying the sender's trace context is
// handled in a span that is the child of the sending service's span.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createMemoryBus, decodeDeliveryAck, encodeDelivery, subjects } from "@impp/bus";
import { Family, Flags, ImType } from "@impp/protocol";
import { createMemorySessionStore } from "@impp/sessions";
import {
  createMetrics,
  createTelemetry,
  InMemorySpanExporter,
  injectContext,
  Registry,
  SESSION_SPAN,
  withSpan,
} from "@impp/telemetry";
import { frameBytes, TestClient, testCert } from "@impp/test-kit";
import { startEdge } from "./edge.js";
import { fakeAuth, fakeDevice, testConfig } from "./test-support.js";

test("a delivery is handled in a span whose parent is the sender's span", async () => {
  const exporter = new InMemorySpanExporter();
  const telemetry = createTelemetry({
    serviceName: "edge-trace-test",
    logLevel: "silent",
    spanExporter: exporter,
    metrics: createMetrics(new Registry(), { processMetrics: false }),
  });
  const bus = createMemoryBus();
  const sessions = createMemorySessionStore();
  const config = testConfig();
  const edge = await startEdge({ config, bus, sessions, telemetry, tls: await testCert() });
  try {
    const sender = await withSpan(telemetry.tracer, "service.send", undefined, {}, async (span) => {
      const delivery = encodeDelivery({
        account: "nobody",
        filter: 0,
        device: "",
        capability: 0,
        closeAfter: false,
        frames: new Uint8Array(0),
      });
      const ack = await bus.request(subjects.edge(edge.edgeId), delivery, {
        timeoutMs: 2000,
        headers: injectContext({}),
      });
      assert.deepEqual(decodeDeliveryAck(ack.data), { delivered: 0 });
      return span.spanContext();
    });
    const handled = exporter.getFinishedSpans().find((s) => s.name === "impp.edge.deliver");
    assert.ok(handled, "the edge recorded a delivery span");
    assert.equal(handled.spanContext().traceId, sender.traceId);
    assert.equal(handled.parentSpanContext?.spanId, sender.spanId);
    assert.equal(handled.attributes["impp.delivered"], 0);
  } finally {
    await edge.stop();
    await bus.close();
    await sessions.close();
    await telemetry.shutdown();
  }
});

test("a connection's life is one impp.session span: events, account and device, close reason; requests and deliveries link to it; its log lines carry its trace id", async () => {
  const exporter = new InMemorySpanExporter();
  const lines: Array<Record<string, unknown>> = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l));
      cb();
    },
  });
  const telemetry = createTelemetry({
    serviceName: "edge-session-test",
    logLevel: "trace",
    logDestination,
    spanExporter: exporter,
    traceMessageRatio: 1,
    metrics: createMetrics(new Registry(), { processMetrics: false }),
  });
  const bus = createMemoryBus();
  const sessions = createMemorySessionStore();
  fakeAuth(bus);
  fakeDevice(bus);
  const edge = await startEdge({
    config: testConfig({ logLevel: "trace" }),
    bus,
    sessions,
    telemetry,
    tls: await testCert(),
  });
  try {
    const c = await TestClient.bound(edge.ports.plain, "alice", "laptop");
    await c.ping();
    await withSpan(telemetry.tracer, "service.send", undefined, {}, async () => {
      const delivery = encodeDelivery({
        account: "alice",
        filter: 0,
        device: "",
        capability: 0,
        closeAfter: false,
        frames: frameBytes(Flags.INDICATION, Family.IM, ImType.MESSAGE_SEND, 0),
      });
      const ack = await bus.request(subjects.edge(edge.edgeId), delivery, {
        timeoutMs: 2000,
        headers: injectContext({}),
      });
      assert.deepEqual(decodeDeliveryAck(ack.data), { delivered: 1 });
    });
    await c.nextTlv();
    c.close();
    while (edge.connectionCount > 0) await new Promise((r) => setImmediate(r));
  } finally {
    await edge.stop();
    await bus.close();
    await sessions.close();
  }
  // Before shutdown: shutting the in-memory exporter down forgets what it holds.
  const spans = exporter.getFinishedSpans();
  await telemetry.shutdown();
  const session = spans.find((s) => s.name === SESSION_SPAN);
  assert.ok(session, `no session span among ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(session.parentSpanContext, undefined, "a root");
  assert.equal(session.attributes["impp.account"], "alice");
  assert.equal(session.attributes["impp.device"], "laptop");
  assert.equal(session.attributes["impp.close_reason"], "client_close");
  assert.deepEqual(
    session.events.map((e) => e.name),
    ["version", "tls", "authenticated", "bound"],
  );
  const sc = session.spanContext();
  const linked = (name: string) => {
    const s = spans.find((x) => x.name === name);
    assert.ok(s, `no ${name} among ${spans.map((x) => x.name).join(", ")}`);
    assert.notEqual(s.spanContext().traceId, sc.traceId, `${name} is its own trace`);
    assert.ok(
      s.links.some((l) => l.context.traceId === sc.traceId && l.context.spanId === sc.spanId),
      `${name} links to the session`,
    );
  };
  linked("edge STREAM AUTHENTICATE");
  linked("edge DEVICE BIND");
  linked("impp.edge.deliver");
  const conn = session.attributes["impp.conn"];
  const mine = lines.filter((l) => l["conn"] === conn);
  assert.ok(mine.length >= 6, `only ${mine.length} log lines of the connection`);
  for (const l of mine) assert.equal(l["trace_id"], sc.traceId, JSON.stringify(l));
});
