// One trace covers a message's whole way through the running server: the sender's edge span,
// the messaging service's span (continued from the bus headers) and the recipient edge's
// delivery span share one trace id, exported over OTLP to a collector.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { befriend, connectAndLogin } from "@impp/client";
import { Family } from "@impp/protocol";
import { startCluster } from "../testing/cluster.js";

interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

function spansOf(body: string): OtlpSpan[] {
  const doc = JSON.parse(body) as {
    resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
  };
  return (doc.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => s.spans ?? []));
}

test("an IM's spans on the sending edge, in messaging and on the delivering edge share one trace", async () => {
  const bodies: string[] = [];
  const collector = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      bodies.push(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const { port } = collector.address() as AddressInfo;
  const cluster = await startCluster({
    mode: "embedded",
    // Every request traced (the default samples 10 % of them by trace id).
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, IMPP_TRACE_MESSAGE_RATIO: "1" },
  });
  try {
    await cluster.addUser("tracer", "pw");
    await cluster.addUser("traced", "pw");
    const edge = cluster.edges[0]!;
    const opts = { host: edge.host, port: edge.port, rejectUnauthorized: false, password: "pw" };
    const a = await connectAndLogin({ ...opts, name: "tracer" });
    const b = await connectAndLogin({ ...opts, name: "traced" });
    await befriend({ client: a, name: "tracer" }, { client: b, name: "traced" });
    assert.equal((await a.sendIm("traced", "follow me")).isError, false);
    await b.nextIndication((f) => f.family === Family.IM);
    a.destroy();
    b.destroy();
  } finally {
    await cluster.stop(); // flushes the exporter
    collector.closeAllConnections();
    await new Promise((r) => collector.close(r));
  }
  const spans = bodies.flatMap(spansOf);
  const edgeSpan = spans.find((s) => s.name === "edge IM MESSAGE_SEND");
  assert.ok(edgeSpan, `no edge span among ${spans.map((s) => s.name).join(", ")}`);
  const serviceSpan = spans.find((s) => s.name.endsWith("IM MESSAGE_SEND") && s !== edgeSpan);
  assert.ok(serviceSpan, "the messaging service exported its span");
  assert.equal(serviceSpan.traceId, edgeSpan.traceId);
  assert.equal(serviceSpan.parentSpanId, edgeSpan.spanId);
  const delivery = spans.find((s) => s.name === "impp.edge.deliver" && s.traceId === edgeSpan.traceId);
  assert.ok(delivery, "the recipient's edge handled the delivery inside the same trace");
  assert.equal(delivery.parentSpanId, serviceSpan.spanId);
});
