// Sessions are always kept, requests by IMPP_TRACE_MESSAGE_RATIO, and children follow their parent:
// a request's trace is whole (edge, services, deliveries) or absent.
import assert from "node:assert/strict";
import { test } from "node:test";
import { context, trace } from "@opentelemetry/api";
import {
  createMetrics,
  createTelemetry,
  extractContext,
  InMemorySpanExporter,
  injectContext,
  Registry,
  SESSION_SPAN,
} from "./index.js";

const telemetryWith = (ratio: number | undefined, exporter?: InMemorySpanExporter) =>
  createTelemetry({
    serviceName: "sampling-test",
    logLevel: "silent",
    metrics: createMetrics(new Registry(), { processMetrics: false }),
    ...(exporter === undefined ? {} : { spanExporter: exporter }),
    ...(ratio === undefined ? {} : { traceMessageRatio: ratio }),
  });

test("ratio 0: every session root is exported, no request root, and a request's children follow it", async () => {
  const exporter = new InMemorySpanExporter();
  const t = telemetryWith(0, exporter);
  try {
    const session = t.tracer.startSpan(SESSION_SPAN);
    assert.equal(session.isRecording(), true);
    const request = t.tracer.startSpan("edge IM MESSAGE_SEND", {
      links: [{ context: session.spanContext() }],
    });
    assert.equal(request.isRecording(), false);
    // What a service does with the unsampled request's traceparent.
    const headers = injectContext({}, trace.setSpan(context.active(), request));
    assert.match(headers["traceparent"] ?? "", /-00$/, "the not-sampled flag travels");
    const child = t.tracer.startSpan("messaging IM MESSAGE_SEND", {}, extractContext(headers));
    assert.equal(child.isRecording(), false);
    assert.equal(child.spanContext().traceId, request.spanContext().traceId, "ids flow anyway (logs)");
    child.end();
    request.end();
    session.end();
    assert.deepEqual(
      exporter.getFinishedSpans().map((s) => s.name),
      [SESSION_SPAN],
    );
  } finally {
    await t.shutdown();
  }
});

test("ratio 1: requests are exported with their link to the session, and children are sampled", async () => {
  const exporter = new InMemorySpanExporter();
  const t = telemetryWith(1, exporter);
  try {
    const session = t.tracer.startSpan(SESSION_SPAN);
    const request = t.tracer.startSpan("edge IM MESSAGE_SEND", {
      links: [{ context: session.spanContext() }],
    });
    const child = t.tracer.startSpan(
      "messaging IM MESSAGE_SEND",
      {},
      extractContext(injectContext({}, trace.setSpan(context.active(), request))),
    );
    assert.equal(child.isRecording(), true);
    child.end();
    request.end();
    session.end();
    const spans = exporter.getFinishedSpans();
    const req = spans.find((s) => s.name === "edge IM MESSAGE_SEND");
    assert.ok(req);
    assert.deepEqual(req.links[0]?.context.spanId, session.spanContext().spanId);
    assert.equal(spans.length, 3);
  } finally {
    await t.shutdown();
  }
});

test("a fractional ratio keeps about that share of request roots, every session", async () => {
  const exporter = new InMemorySpanExporter();
  const t = telemetryWith(0.25, exporter);
  try {
    let kept = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const s = t.tracer.startSpan("edge PRESENCE SET");
      if (s.isRecording()) kept++;
      s.end();
      const session = t.tracer.startSpan(SESSION_SPAN);
      assert.equal(session.isRecording(), true);
      session.end();
    }
    // Trace ids are random: 4000 draws at p = 0.25 give 1000 ± 27 (one sd); ±200 is over 7 sd.
    assert.ok(kept > 800 && kept < 1200, `kept ${kept} of ${n}`);
  } finally {
    await t.shutdown();
  }
});

test("without an exporter every span is non-recording, sessions too, but all carry ids", async () => {
  const t = telemetryWith(1);
  try {
    const session = t.tracer.startSpan(SESSION_SPAN);
    assert.equal(session.isRecording(), false);
    assert.match(session.spanContext().traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(session.spanContext().traceId, "0".repeat(32));
    session.end();
  } finally {
    await t.shutdown();
  }
});
