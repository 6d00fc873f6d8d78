import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  createMetrics,
  ensureCounter,
  ensureGauge,
  Registry,
  subjectLabel,
  TelemetryConfigError,
} from "./index.js";

describe("createMetrics", () => {
  test("creation is idempotent by name on a shared registry", async () => {
    const registry = new Registry();
    const a = createMetrics(registry);
    const b = createMetrics(registry);
    assert.equal(a.framesIn, b.framesIn);
    assert.equal(a.requestDuration, b.requestDuration);
    a.framesIn.inc({ family: "im" });
    b.framesIn.inc({ family: "im" }, 2);
    const text = await registry.metrics();
    assert.match(text, /^impp_frames_in_total\{family="im"\} 3$/m);
    // Exactly one HELP line per metric: nothing was registered twice.
    assert.equal(text.match(/^# HELP impp_frames_in_total /gm)?.length, 1);
    assert.equal(text.match(/^# HELP process_cpu_user_seconds_total /gm)?.length, 1);
  });

  test("separate registries do not share values", async () => {
    const a = createMetrics(undefined, { processMetrics: false });
    const b = createMetrics(undefined, { processMetrics: false });
    a.offlineStored.inc();
    assert.match(await a.registry.metrics(), /^impp_offline_stored_total 1$/m);
    assert.match(await b.registry.metrics(), /^impp_offline_stored_total 0$/m);
    assert.doesNotMatch(await b.registry.metrics(), /process_cpu/);
  });

  test("records the labelled operator metrics", async () => {
    const m = createMetrics(undefined, { processMetrics: false });
    m.connections.inc({ edge: "tls" });
    m.connections.inc({ edge: "tls" });
    m.connections.dec({ edge: "tls" });
    m.errors.inc({ family: "im", code: "not_found" });
    m.requestDuration.observe({ family: "im", service: "messaging" }, 0.003);
    const text = await m.registry.metrics();
    assert.match(text, /^impp_connections\{edge="tls"\} 1$/m);
    assert.match(text, /^impp_errors_total\{family="im",code="not_found"\} 1$/m);
    assert.match(
      text,
      /^impp_request_duration_seconds_bucket\{le="0.005",family="im",service="messaging"\} 1$/m,
    );
    assert.match(
      text,
      /^impp_request_duration_seconds_bucket\{le="0.001",family="im",service="messaging"\} 0$/m,
    );
  });

  test("a name already taken by another metric type is a typed error", () => {
    const registry = new Registry();
    ensureCounter(registry, { name: "x_total", help: "x" });
    assert.throws(
      () => ensureGauge(registry, { name: "x_total", help: "x" }),
      (e: unknown) => e instanceof TelemetryConfigError && e.code === "metric_conflict",
    );
  });
});

describe("subjectLabel", () => {
  test("subjects become labels from a closed set (one for every edge)", () => {
    assert.equal(subjectLabel("impp.req.im"), "impp.req.im");
    assert.equal(subjectLabel("tenant-a.impp.req.device"), "impp.req.device");
    assert.equal(subjectLabel("impp.edge.edge-1-k3x9q0w2ab"), "impp.edge.*");
    assert.equal(subjectLabel("impp.evt.device-gone"), "impp.evt.device-gone");
    assert.equal(subjectLabel("_INBOX.abc"), "other");
  });
});
