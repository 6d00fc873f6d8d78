import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { context, ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import {
  createTelemetry,
  extractContext,
  injectContext,
  isTracing,
  traceHeaders,
  withSpan,
} from "./index.js";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

describe("injectContext / extractContext", () => {
  test("round trip through headers keeps the trace id and makes the injecting span the parent", async () => {
    const exporter = new InMemorySpanExporter();
    const t = createTelemetry({ serviceName: "prop", logLevel: "silent", spanExporter: exporter });
    const tracer = t.tracer;
    const sender = tracer.startSpan("send");
    const headers = injectContext({ "x-other": "kept" }, trace.setSpan(context.active(), sender));
    assert.equal(headers["x-other"], "kept");
    const m = TRACEPARENT.exec(headers["traceparent"] ?? "");
    assert.ok(m, `traceparent: ${headers["traceparent"]}`);
    assert.equal(m[1], sender.spanContext().traceId);
    assert.equal(m[2], sender.spanContext().spanId);

    const extracted = extractContext(headers);
    const remote = trace.getSpanContext(extracted);
    assert.ok(remote);
    assert.equal(remote.isRemote, true);
    assert.equal(remote.traceId, sender.spanContext().traceId);
    assert.equal(remote.spanId, sender.spanContext().spanId);

    const child = tracer.startSpan("receive", {}, extracted);
    child.end();
    sender.end();
    const received = exporter.getFinishedSpans().find((s) => s.name === "receive");
    assert.ok(received);
    assert.equal(received.spanContext().traceId, sender.spanContext().traceId);
    assert.equal(received.parentSpanContext?.spanId, sender.spanContext().spanId);
    await t.shutdown();
  });

  test("defaults to the active context and carries tracestate", async () => {
    const t = createTelemetry({
      serviceName: "prop2",
      logLevel: "silent",
      spanExporter: new InMemorySpanExporter(),
    });
    const incoming = extractContext({
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: "vendor=abc",
    });
    const headers = await withSpan(t.tracer, "hop", incoming, {}, async () => injectContext({}));
    assert.match(
      headers["traceparent"] ?? "",
      /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/,
    );
    assert.equal(headers["tracestate"], "vendor=abc");
    await t.shutdown();
  });

  test("nothing to inject outside a span; hostile or missing headers extract to the root context", () => {
    assert.deepEqual(injectContext({}, ROOT_CONTEXT), {});
    assert.equal(extractContext(undefined), ROOT_CONTEXT);
    const cases: Record<string, string>[] = [
      {},
      { traceparent: "garbage" },
      { traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01" }, // all-zero trace id
      { traceparent: "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, // forbidden version
      { traceparent: "x".repeat(100_000) },
    ];
    for (const bad of cases) {
      assert.equal(trace.getSpanContext(extractContext(bad)), undefined, JSON.stringify(bad).slice(0, 80));
    }
  });

  test("without any exporter no span is made: fn runs with a non-recording span, nothing is injected", async () => {
    const t = createTelemetry({ serviceName: "cheap", logLevel: "silent" });
    assert.equal(isTracing(t.tracer), false);
    const seen = await withSpan(t.tracer, "op", undefined, { a: 1 }, async (span) => {
      await Promise.resolve();
      return {
        recording: span.isRecording(),
        headers: traceHeaders(),
        active: trace.getSpan(context.active()),
      };
    });
    assert.deepEqual(seen, { recording: false, headers: undefined, active: undefined });
    // A thrown error still reaches the caller.
    await assert.rejects(
      withSpan(t.tracer, "op", undefined, {}, async () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    await t.shutdown();
  });

  test("with an exporter, traceHeaders carries the active span's traceparent", async () => {
    const t = createTelemetry({
      serviceName: "hdr",
      logLevel: "silent",
      spanExporter: new InMemorySpanExporter(),
    });
    assert.equal(isTracing(t.tracer), true);
    assert.equal(traceHeaders(), undefined, "outside a span: nothing");
    const headers = await withSpan(t.tracer, "op", undefined, {}, async (span) => {
      await Promise.resolve();
      return { h: traceHeaders(), id: span.spanContext().traceId };
    });
    const m = TRACEPARENT.exec(headers.h?.["traceparent"] ?? "");
    assert.ok(m, JSON.stringify(headers.h));
    assert.equal(m[1], headers.id);
    await t.shutdown();
  });
});

describe("withSpan", () => {
  test("returns fn's value, sets attributes, parents on the active span and ends the span", async () => {
    const exporter = new InMemorySpanExporter();
    const t = createTelemetry({ serviceName: "ws", logLevel: "silent", spanExporter: exporter });
    const value = await withSpan(t.tracer, "outer", undefined, { "impp.family": "im" }, async () =>
      withSpan(t.tracer, "inner", undefined, {}, async () => 42),
    );
    assert.equal(value, 42);
    const spans = exporter.getFinishedSpans();
    const outer = spans.find((s) => s.name === "outer");
    const inner = spans.find((s) => s.name === "inner");
    assert.ok(outer && inner);
    assert.equal(outer.ended, true);
    assert.equal(inner.ended, true);
    assert.equal(outer.attributes["impp.family"], "im");
    assert.equal(inner.parentSpanContext?.spanId, outer.spanContext().spanId);
    assert.equal(outer.status.code, SpanStatusCode.UNSET);
    await t.shutdown();
  });

  test("records a thrown error, sets ERROR status, rethrows and still ends the span", async () => {
    const exporter = new InMemorySpanExporter();
    const t = createTelemetry({ serviceName: "ws-err", logLevel: "silent", spanExporter: exporter });
    class Boom extends Error {
      override readonly name = "Boom";
    }
    await assert.rejects(
      withSpan(t.tracer, "fails", undefined, {}, async () => {
        throw new Boom("kaput");
      }),
      Boom,
    );
    await assert.rejects(
      withSpan(t.tracer, "fails-with-string", undefined, {}, async () => {
        throw "plain";
      }),
      (e: unknown) => e === "plain",
    );
    const [failed, plain] = exporter.getFinishedSpans();
    assert.ok(failed && plain);
    assert.equal(failed.ended, true);
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.status.message, "kaput");
    const event = failed.events.find((e) => e.name === "exception");
    assert.ok(event);
    assert.equal(event.attributes?.["exception.type"], "Boom");
    assert.equal(event.attributes?.["exception.message"], "kaput");
    assert.equal(plain.status.code, SpanStatusCode.ERROR);
    assert.equal(plain.status.message, "plain");
    await t.shutdown();
  });
});
