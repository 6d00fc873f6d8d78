// deploy/observability: the Grafana dashboard and the Prometheus alert rules parse, and every
// metric they query is one the server exports, with the labels they filter and group by. The
// registry is the one every IMPP process builds (createMetrics, process metrics included).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createMetrics, Registry } from "@impp/telemetry";
import { parse as parseYaml } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = "deploy/observability";
const read = (file: string) => readFileSync(path.join(root, dir, file), "utf8");

/** Labels Prometheus adds to every series from the scrape target, and the histogram's own. */
const TARGET_LABELS = new Set(["instance", "job", "pod", "namespace", "service", "container", "node"]);

interface Exported {
  /** Series name → the metric's label names. */
  readonly series: Map<string, Set<string>>;
}

async function exported(): Promise<Exported> {
  const registry = new Registry();
  createMetrics(registry);
  const series = new Map<string, Set<string>>();
  for (const { name, type } of await registry.getMetricsAsJSON()) {
    // prom-client keeps a metric's label names on the metric object.
    const metric = registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] };
    const labels = new Set(metric.labelNames ?? []);
    if (String(type) === "histogram") {
      series.set(`${name}_bucket`, new Set([...labels, "le"]));
      series.set(`${name}_sum`, labels);
      series.set(`${name}_count`, labels);
    } else {
      series.set(name, labels);
    }
  }
  return { series };
}

const METRIC = /\b((?:impp|process|nodejs)_[a-zA-Z0-9_]*)\b/g;

/** The metric names an expression reads. */
function metricsOf(expr: string): string[] {
  return [...expr.matchAll(METRIC)].map((m) => m[1]!);
}

/** Label matchers right after a metric name: `name{a="x", b=~"y"}` → [name, [a, b]]. */
function matchersOf(expr: string): Array<[string, string[]]> {
  return [...expr.matchAll(/\b((?:impp|process|nodejs)_[a-zA-Z0-9_]*)\s*\{([^}]*)\}/g)].map((m) => [
    m[1]!,
    [...m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1]!),
  ]);
}

/** Labels of `by (...)` / `without (...)` / `on (...)` / `ignoring (...)` clauses. */
function groupingOf(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(",")
      .map((l) => l.trim())
      .filter((l) => l !== ""),
  );
}

function checkExpr(expr: string, where: string, ex: Exported): void {
  const names = metricsOf(expr);
  assert.ok(names.length > 0, `${where}: names no metric: ${expr}`);
  for (const n of names) assert.ok(ex.series.has(n), `${where}: ${n} is not exported (${expr})`);
  for (const [n, labels] of matchersOf(expr)) {
    for (const l of labels)
      assert.ok(ex.series.get(n)?.has(l) || TARGET_LABELS.has(l), `${where}: ${n} has no label ${l}`);
  }
  // A grouping label must belong to some metric of the expression (or come from the target).
  const known = new Set(names.flatMap((n) => [...(ex.series.get(n) ?? [])]));
  for (const l of groupingOf(expr))
    assert.ok(known.has(l) || TARGET_LABELS.has(l), `${where}: no metric of ${expr} has the label ${l}`);
}

describe("deploy/observability", async () => {
  const ex = await exported();

  test("the check itself: it knows the IMPP metrics, their labels and the histogram series", () => {
    assert.ok(ex.series.get("impp_connections")?.has("edge"));
    assert.ok(ex.series.get("impp_request_duration_seconds_bucket")?.has("le"));
    assert.ok(ex.series.has("process_resident_memory_bytes"));
    assert.throws(() => checkExpr("rate(impp_no_such_total[5m])", "self-test", ex), /not exported/);
    assert.throws(
      () => checkExpr('rate(impp_connections_closed_total{result="x"}[5m])', "self-test", ex),
      /no label result/,
    );
    assert.throws(() => checkExpr("sum by (color) (impp_connections)", "self-test", ex), /label color/);
  });

  test("grafana-dashboard.json parses and every panel queries exported metrics", () => {
    const dash = JSON.parse(read("grafana-dashboard.json")) as {
      uid: string;
      panels: Array<{ id: number; title: string; targets?: Array<{ expr: string; refId: string }> }>;
    };
    assert.ok(dash.uid);
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    assert.ok(dash.panels.length >= 10);
    const queried = new Set<string>();
    for (const p of dash.panels) {
      assert.ok(p.targets && p.targets.length > 0, `panel ${p.title} has no query`);
      for (const t of p.targets) {
        checkExpr(t.expr, `dashboard panel "${p.title}" ${t.refId}`, ex);
        for (const n of metricsOf(t.expr)) queried.add(n);
      }
    }
    // What the issue asks the dashboard to show.
    for (const n of [
      "impp_connections",
      "impp_auth_attempts_total",
      "impp_request_duration_seconds_bucket",
      "impp_deliveries_total",
      "impp_offline_stored_total",
      "impp_offline_delivered_total",
      "impp_connections_closed_total",
      "impp_bus_handler_errors_total",
      "impp_bus_request_failures_total",
      "impp_redis_errors_total",
    ])
      assert.ok(queried.has(n), `the dashboard does not show ${n}`);
  });

  test("prometheus-rules.yaml parses as a rule file and every alert queries exported metrics", () => {
    const doc = parseYaml(read("prometheus-rules.yaml")) as {
      groups: Array<{ name: string; rules: Array<Record<string, unknown>> }>;
    };
    assert.ok(Array.isArray(doc.groups) && doc.groups.length > 0);
    const alerts = new Set<string>();
    for (const g of doc.groups) {
      assert.ok(g.name && Array.isArray(g.rules) && g.rules.length > 0, `group ${g.name}`);
      for (const r of g.rules) {
        const name = r["alert"];
        assert.equal(typeof name, "string", `a rule of ${g.name} is not an alert`);
        assert.ok(!alerts.has(name as string), `alert ${name} twice`);
        alerts.add(name as string);
        assert.equal(typeof r["expr"], "string", `${name}: expr`);
        if (r["for"] !== undefined) assert.match(String(r["for"]), /^\d+[smhd]$/, `${name}: for`);
        const labels = r["labels"] as Record<string, string> | undefined;
        assert.ok(["info", "warning", "critical"].includes(labels?.["severity"] ?? ""), `${name}: severity`);
        assert.ok((r["annotations"] as Record<string, string> | undefined)?.["summary"], `${name}: summary`);
        checkExpr(r["expr"] as string, `alert ${name}`, ex);
      }
    }
    assert.ok(alerts.size >= 8, `only ${alerts.size} alerts`);
  });
});
