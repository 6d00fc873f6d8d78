import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { createTelemetry, extractContext, injectContext, TelemetryConfigError, withSpan } from "./index.js";

function logSink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString("utf8");
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe("createTelemetry logs", () => {
  test("a line logged inside an active span carries its trace_id and span_id; outside it does not", async () => {
    const sink = logSink();
    const t = createTelemetry({
      serviceName: "logs-test",
      logLevel: "info",
      logDestination: sink.stream,
      spanExporter: new InMemorySpanExporter(),
    });
    t.logger.info("before");
    let ids: { traceId: string; spanId: string } | undefined;
    await withSpan(t.tracer, "op", undefined, {}, async (span) => {
      ids = span.spanContext();
      await Promise.resolve(); // the context must survive an await
      t.logger.info({ extra: 1 }, "inside");
    });
    t.logger.info("after");
    await t.shutdown();

    const [before, inside, after] = sink.lines();
    assert.ok(before && inside && after);
    assert.ok(ids);
    assert.equal(inside["msg"], "inside");
    assert.equal(inside["trace_id"], ids.traceId);
    assert.equal(inside["span_id"], ids.spanId);
    assert.equal(inside["extra"], 1);
    assert.equal(inside["service"], "logs-test");
    assert.equal(before["trace_id"], undefined);
    assert.equal(after["trace_id"], undefined);
    assert.equal(after["span_id"], undefined);
  });

  test("the level filters lines and 'silent' writes nothing", async () => {
    const warnSink = logSink();
    const warn = createTelemetry({ serviceName: "lvl", logLevel: "warn", logDestination: warnSink.stream });
    warn.logger.info("dropped");
    warn.logger.warn("kept");
    assert.deepEqual(
      warnSink.lines().map((l) => l["msg"]),
      ["kept"],
    );
    const silentSink = logSink();
    const silent = createTelemetry({
      serviceName: "lvl",
      logLevel: "silent",
      logDestination: silentSink.stream,
    });
    silent.logger.fatal("nothing");
    assert.equal(silentSink.lines().length, 0);
    await Promise.all([warn.shutdown(), silent.shutdown()]);
  });

  test("bad options are typed errors", () => {
    assert.throws(
      () => createTelemetry({ serviceName: "x", logLevel: "loud" }),
      (e: unknown) => e instanceof TelemetryConfigError && e.code === "invalid_log_level",
    );
    assert.throws(
      () => createTelemetry({ serviceName: "" }),
      (e: unknown) => e instanceof TelemetryConfigError && e.code === "invalid_service_name",
    );
    assert.throws(
      () => createTelemetry({ serviceName: "x", logLevel: "silent", otlpEndpoint: "not a url" }),
      (e: unknown) => e instanceof TelemetryConfigError && e.code === "invalid_otlp_endpoint",
    );
  });
});

describe("several Telemetry instances in one process (embedded mode)", () => {
  test("each keeps its own service name and exporter; shared metrics are the same objects", async () => {
    const exportA = new InMemorySpanExporter();
    const exportB = new InMemorySpanExporter();
    const a = createTelemetry({ serviceName: "edge", logLevel: "silent", spanExporter: exportA });
    const b = createTelemetry({
      serviceName: "messaging",
      logLevel: "silent",
      spanExporter: exportB,
      metrics: a.metrics,
    });
    const c = createTelemetry({ serviceName: "presence", logLevel: "silent", registry: a.metrics.registry });
    assert.equal(b.metrics, a.metrics);
    assert.equal(c.metrics.framesIn, a.metrics.framesIn, "same registry → same metric objects");

    // A trace crossing services the way the bus does: edge span → headers → messaging span.
    const headers = await withSpan(a.tracer, "edge.request", undefined, {}, async () => injectContext({}));
    await withSpan(b.tracer, "messaging.handle", extractContext(headers), {}, async () => {});

    const [edgeSpan] = exportA.getFinishedSpans();
    const [msgSpan] = exportB.getFinishedSpans();
    assert.ok(edgeSpan && msgSpan);
    assert.equal(exportA.getFinishedSpans().length, 1, "each provider exports only its own spans");
    assert.equal(exportB.getFinishedSpans().length, 1);
    assert.equal(edgeSpan.resource.attributes[ATTR_SERVICE_NAME], "edge");
    assert.equal(msgSpan.resource.attributes[ATTR_SERVICE_NAME], "messaging");
    assert.equal(msgSpan.spanContext().traceId, edgeSpan.spanContext().traceId);
    assert.equal(msgSpan.parentSpanContext?.spanId, edgeSpan.spanContext().spanId);

    await a.shutdown();
    await a.shutdown(); // idempotent
    // Shutting one down leaves the others working.
    await withSpan(b.tracer, "after", undefined, {}, async () => {});
    assert.equal(exportB.getFinishedSpans().length, 2);
    await Promise.all([b.shutdown(), c.shutdown()]);
  });

  test("the process-wide context manager makes spans active across awaits", async () => {
    const t = createTelemetry({
      serviceName: "ctx",
      logLevel: "silent",
      spanExporter: new InMemorySpanExporter(),
    });
    await withSpan(t.tracer, "outer", undefined, {}, async (span) => {
      await new Promise((r) => setImmediate(r));
      assert.equal(trace.getSpan(context.active()), span);
    });
    assert.equal(trace.getSpan(context.active()), undefined);
    await t.shutdown();
  });
});
