// A whole session as exported over OTLP by a running server: the connection's impp.session root
// (accept → version → TLS → AUTHENTICATE → BIND → close, with account, device and close reason),
// the request spans linking to it with the services' spans as their children, the delivery to a
// second session linking to that session. And sampling: with IMPP_TRACE_MESSAGE_RATIO=0 the
// sessions are still exported, and no request trace is.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { befriend, connectAndLogin } from "@impp/client";
import { Family } from "@impp/protocol";
import { startCluster } from "../testing/cluster.js";
import { attr, type OtlpSpan, startCollector } from "../testing/otlp-collector.js";

const linksTo = (s: OtlpSpan, session: OtlpSpan) =>
  (s.links ?? []).some((l) => l.traceId === session.traceId && l.spanId === session.spanId);

async function runSessions(ratio: string): Promise<OtlpSpan[]> {
  const collector = await startCollector();
  const cluster = await startCluster({
    mode: "embedded",
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, IMPP_TRACE_MESSAGE_RATIO: ratio },
  });
  try {
    await cluster.addUser("sam", "pw");
    await cluster.addUser("kim", "pw");
    const edge = cluster.edges[0]!;
    const opts = { host: edge.host, port: edge.port, rejectUnauthorized: false, password: "pw" };
    const a = await connectAndLogin({ ...opts, name: "sam", deviceName: "sam-laptop" });
    const b = await connectAndLogin({ ...opts, name: "kim", deviceName: "kim-phone" });
    await befriend({ client: a, name: "sam" }, { client: b, name: "kim" });
    assert.equal((await a.sendIm("kim", "hello")).isError, false);
    await b.nextIndication((f) => f.family === Family.IM);
    await a.close();
    await b.close();
  } finally {
    await cluster.stop(); // flushes the exporter
    await collector.close();
  }
  return collector.spans();
}

describe("session tracing over OTLP", () => {
  test("one session: the root span, its events and attributes, and the spans linking to it", async () => {
    const spans = await runSessions("1");
    const sessions = spans.filter((s) => s.name === "impp.session");
    const sam = sessions.find((s) => attr(s, "impp.account") === "sam");
    const kim = sessions.find((s) => attr(s, "impp.account") === "kim");
    assert.ok(sam && kim, `sessions: ${sessions.map((s) => attr(s, "impp.account")).join(", ")}`);
    assert.equal(sam.parentSpanId ?? "", "", "the session is a root");
    assert.equal(attr(sam, "impp.device"), "sam-laptop");
    assert.equal(attr(sam, "impp.close_reason"), "client_close");
    assert.deepEqual(
      (sam.events ?? []).map((e) => e.name),
      ["version", "tls", "authenticated", "bound"],
    );
    const conn = attr(sam, "impp.conn");
    assert.ok(conn);

    // Every request span of sam's connection is its own trace, linked to sam's session.
    const requests = spans.filter((s) => s.name.startsWith("edge ") && attr(s, "impp.conn") === conn);
    const names = requests.map((s) => s.name);
    for (const n of ["edge STREAM AUTHENTICATE", "edge DEVICE BIND", "edge IM MESSAGE_SEND"])
      assert.ok(names.includes(n), `${n} not among ${names.join(", ")}`);
    for (const r of requests) {
      assert.ok(linksTo(r, sam), `${r.name} links to the session`);
      assert.notEqual(r.traceId, sam.traceId, `${r.name} is its own trace`);
    }
    // The services' spans are children of the edge's request spans (the sampled flag followed).
    const send = requests.find((s) => s.name === "edge IM MESSAGE_SEND")!;
    const service = spans.find((s) => s.parentSpanId === send.spanId);
    assert.ok(service, "the messaging service's span is the child of the edge's");
    assert.equal(service.traceId, send.traceId);
    const auth = requests.find((s) => s.name === "edge STREAM AUTHENTICATE")!;
    assert.ok(
      spans.some((s) => s.parentSpanId === auth.spanId),
      "auth's span is the child of the edge's",
    );

    // The IM reached kim in a delivery span of sam's message trace, linked to kim's session.
    const delivery = spans.find((s) => s.name === "impp.edge.deliver" && s.traceId === send.traceId);
    assert.ok(delivery, "the delivery is in the message's trace");
    assert.ok(linksTo(delivery, kim), "the delivery links to the recipient's session");
  });

  test("IMPP_TRACE_MESSAGE_RATIO=0: every session is exported, no request or delivery span", async () => {
    const spans = await runSessions("0");
    const accounts = spans
      .filter((s) => s.name === "impp.session")
      .map((s) => attr(s, "impp.account"))
      .sort();
    assert.deepEqual(accounts, ["kim", "sam"]);
    assert.deepEqual(
      spans.filter((s) => s.name !== "impp.session").map((s) => s.name),
      [],
      "only session spans",
    );
  });
});
