import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { createTelemetry, withSpan } from "./index.js";
import { otlpTracesUrl } from "./tracing.js";

test("OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the traces path is appended once", () => {
  assert.equal(otlpTracesUrl("http://jaeger:4318"), "http://jaeger:4318/v1/traces");
  assert.equal(otlpTracesUrl("http://jaeger:4318/"), "http://jaeger:4318/v1/traces");
  assert.equal(otlpTracesUrl("https://c.example/otlp"), "https://c.example/otlp/v1/traces");
  assert.equal(otlpTracesUrl("http://jaeger:4318/v1/traces"), "http://jaeger:4318/v1/traces");
});

test("with an OTLP endpoint, shutdown flushes batched spans to <endpoint>/v1/traces", async () => {
  const received: { path: string | undefined; body: string }[] = [];
  const collector = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ path: req.url, body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const { port } = collector.address() as AddressInfo;
  try {
    const t = createTelemetry({
      serviceName: "otlp-test",
      logLevel: "silent",
      otlpEndpoint: `http://127.0.0.1:${port}`,
    });
    await withSpan(t.tracer, "exported-span", undefined, {}, async (span) => {
      assert.equal(span.isRecording(), true);
    });
    await t.shutdown();
    assert.equal(received.length, 1);
    assert.equal(received[0]?.path, "/v1/traces");
    assert.match(received[0]?.body ?? "", /exported-span/);
    assert.match(received[0]?.body ?? "", /otlp-test/);
  } finally {
    collector.closeAllConnections();
    await new Promise((r) => collector.close(r));
  }
});
