// One trace covers a message's whole way through the running server: the sender's edge span,
// the messaging service's span (continued from the bus headers) and the recipient edge's
// delivery span share one trace id, exported over OTLP to a collector.
import assert from "node:assert/strict";
import { test } from "node:test";
import { befriend, connectAndLogin } from "@impp/client";
import { Family } from "@impp/protocol";
import { startCluster } from "../testing/cluster.js";
import { startCollector } from "../testing/otlp-collector.js";

test("an IM's spans on the sending edge, in messaging and on the delivering edge share one trace", async () => {
  const collector = await startCollector();
  const cluster = await startCluster({
    mode: "embedded",
    // Every request traced (the default samples 10 % of them by trace id).
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, IMPP_TRACE_MESSAGE_RATIO: "1" },
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
    await collector.close();
  }
  const spans = collector.spans();
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
