// One trace covers edge → service → edge: a delivery carrying the sender's trace context is
// handled in a span that is the child of the sending service's span.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMemoryBus, decodeDeliveryAck, encodeDelivery, subjects } from "@impp/bus";
import { createMemorySessionStore } from "@impp/sessions";
import {
  createMetrics,
  createTelemetry,
  InMemorySpanExporter,
  injectContext,
  Registry,
  withSpan,
} from "@impp/telemetry";
import { testCert } from "@impp/test-kit";
import { startEdge } from "./edge.js";
import { testConfig } from "./test-support.js";

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
