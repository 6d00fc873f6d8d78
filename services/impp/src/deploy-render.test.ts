// The Helm chart and the kustomize manifests, rendered and checked without a cluster:
//
// - the chart through deploy/helm/render (Go's text/template + Sprig, the libraries Helm uses,
//   plus Helm's include/tpl/required/toYaml): built with the Debian Go toolchain and Sprig
//   packages (.ci/run installs them), for each value set in deploy/helm/impp/ci and for the
//   chart's guards;
// - k8s/ through `kubectl kustomize` (kustomize v5 built into kubectl) when kubectl is there;
// - every object against the Kubernetes OpenAPI schema as compiled into kubernetes-models
//   (Kubernetes ≈ 1.33: types, required fields, enums, formats) and KEDA's ScaledObject schema,
//   plus unknown-field checks on the parts we write by hand (pod spec, containers, autoscalers),
//   which those validators do not reject;
// - cross-checks: selectors match pod labels, named ports exist, every env variable is a
//   setting and each container's environment passes the server's own config validation, the
//   autoscaler's target exists and has no fixed replicas, an edge outlives its drain.
//
// Without Go (or kubectl) the part that needs it is skipped locally; under CI it fails.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig, settings } from "@impp/config";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { Ajv } from "ajv";
import { apps, autoscaling, batch, policy, v1 } from "kubernetes-models";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const chart = path.join(root, "deploy/helm/impp");
const CI = process.env["CI"] === "true";
const KNOWN = new Set(settings.map((s) => s.name));

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" }).status === 0;
const GO = has("go", ["version"]);
const KUBECTL = has("kubectl", ["version", "--client"]);

function need(tool: boolean, name: string, t: { skip(msg: string): void }): boolean {
  if (tool) return true;
  assert.ok(!CI, `${name} is not installed: CI must provide it (.ci/run)`);
  t.skip(`${name} is not installed`);
  return false;
}

function parseObjects(text: string, where: string): Obj[] {
  // The renderer prints NOTES.txt as its own section; it is not YAML.
  const yamlText = text.replace(/^--- NOTES\n[\s\S]*?(?=^---$|(?![\s\S]))/m, "");
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    assert.deepEqual(doc.errors, [], `${where}: YAML errors`);
    const o = doc.toJS() as Obj | null;
    if (o !== null) out.push(o);
  }
  return out;
}

// ------------------------------------------------------------------ schema validation

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  "apps/v1/Deployment": apps.v1.Deployment,
  "v1/Service": v1.Service,
  "v1/Secret": v1.Secret,
  "v1/ConfigMap": v1.ConfigMap,
  "v1/Namespace": v1.Namespace,
  "batch/v1/Job": batch.v1.Job,
  "policy/v1/PodDisruptionBudget": policy.v1.PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": autoscaling.v2.HorizontalPodAutoscaler,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};
// No schema among the dependencies: checked by the cross-checks below only.
const UNVALIDATED = new Set(["monitoring.coreos.com/v1/ServiceMonitor"]);

// Fields the generated validators let through when misspelt: the allowed keys of what we write.
const ALLOWED: Record<string, readonly string[]> = {
  podSpec: [
    "affinity",
    "automountServiceAccountToken",
    "containers",
    "imagePullSecrets",
    "initContainers",
    "nodeSelector",
    "restartPolicy",
    "securityContext",
    "serviceAccountName",
    "terminationGracePeriodSeconds",
    "tolerations",
    "topologySpreadConstraints",
    "volumes",
    "priorityClassName",
  ],
  container: [
    "args",
    "command",
    "env",
    "envFrom",
    "image",
    "imagePullPolicy",
    "livenessProbe",
    "name",
    "ports",
    "readinessProbe",
    "resources",
    "securityContext",
    "startupProbe",
    "volumeMounts",
    "workingDir",
  ],
  deploymentSpec: ["minReadySeconds", "replicas", "revisionHistoryLimit", "selector", "strategy", "template"],
  hpaSpec: ["behavior", "maxReplicas", "metrics", "minReplicas", "scaleTargetRef"],
  hpaMetric: ["type", "resource", "pods", "object", "external", "containerResource"],
  scaledObjectSpec: [
    "advanced",
    "cooldownPeriod",
    "fallback",
    "idleReplicaCount",
    "maxReplicaCount",
    "minReplicaCount",
    "pollingInterval",
    "scaleTargetRef",
    "triggers",
  ],
  trigger: ["authenticationRef", "metadata", "metricType", "name", "type", "useCachedMetrics"],
};

function onlyKeys(o: unknown, allowed: readonly string[], where: string): void {
  if (o === undefined || o === null) return;
  for (const k of Object.keys(o as object))
    assert.ok(allowed.includes(k), `${where}: unknown field ${JSON.stringify(k)}`);
}

function podSpecOf(o: Obj): Record<string, unknown> | undefined {
  const spec = o.spec as { template?: { spec?: Record<string, unknown> } } | undefined;
  return spec?.template?.spec;
}

function validateSchema(o: Obj, where: string): void {
  const key = `${o.apiVersion}/${o.kind}`;
  if (UNVALIDATED.has(key)) return;
  const Model = MODELS[key];
  assert.ok(Model, `${where}: ${key} has no schema here (add it to MODELS)`);
  try {
    new Model(o as never).validate();
  } catch (e) {
    assert.fail(`${where}: ${key} ${o.metadata.name} does not validate: ${(e as Error).message}`);
  }
  const at = `${where}: ${o.kind} ${o.metadata.name}`;
  const pod = podSpecOf(o);
  if (pod !== undefined) {
    onlyKeys(pod, ALLOWED["podSpec"]!, `${at} pod spec`);
    for (const c of (pod["containers"] as Array<Record<string, unknown>>) ?? [])
      onlyKeys(c, ALLOWED["container"]!, `${at} container ${c["name"]}`);
  }
  if (o.kind === "Deployment") onlyKeys(o.spec, ALLOWED["deploymentSpec"]!, `${at} spec`);
  if (o.kind === "HorizontalPodAutoscaler") {
    onlyKeys(o.spec, ALLOWED["hpaSpec"]!, `${at} spec`);
    for (const m of (o.spec?.["metrics"] as object[]) ?? [])
      onlyKeys(m, ALLOWED["hpaMetric"]!, `${at} metric`);
  }
  if (o.kind === "ScaledObject") {
    onlyKeys(o.spec, ALLOWED["scaledObjectSpec"]!, `${at} spec`);
    for (const t of (o.spec?.["triggers"] as object[]) ?? [])
      onlyKeys(t, ALLOWED["trigger"]!, `${at} trigger`);
  }
}

// ------------------------------------------------------------------ cross-checks

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: unknown; fieldRef?: unknown };
}

/** A stand-in value for an env var read from a Secret or the pod (what the cluster would fill in). */
function placeholder(name: string): string {
  const byName: Record<string, string> = {
    IMPP_DATABASE_URL: "postgres://impp:secret@postgres.db.svc:5432/impp",
    IMPP_NATS_URL: "nats://nats.nats.svc:4222",
    IMPP_REDIS_URL: "redis://redis.redis.svc:6379",
    IMPP_EDGE_ID: "impp-edge-5d9c7b6f4-x2x7k",
  };
  const v = byName[name];
  assert.ok(v, `no placeholder for ${name} read from a Secret or the pod`);
  return v;
}

function crossCheck(objects: Obj[], where: string): void {
  const byKind = (k: string) => objects.filter((o) => o.kind === k);
  const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c.data ?? {}]));
  const workloads = [...byKind("Deployment"), ...byKind("Job")];
  const deployments = byKind("Deployment");
  const portsOf = new Map<string, Set<string>>();

  for (const w of workloads) {
    const at = `${where}: ${w.kind} ${w.metadata.name}`;
    const spec = w.spec as {
      selector?: { matchLabels?: Record<string, string> };
      template: { metadata?: { labels?: Record<string, string> }; spec: Record<string, unknown> };
    };
    const labels = spec.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(spec.selector?.matchLabels ?? {}))
      assert.equal(labels[k], v, `${at}: the selector ${k}=${v} does not match the pod labels`);
    const ports = new Set<string>();
    for (const c of spec.template.spec["containers"] as Array<Record<string, unknown>>) {
      const cat = `${at} container ${c["name"]}`;
      for (const p of (c["ports"] as Array<{ name?: string; containerPort: number }>) ?? []) {
        if (p.name) ports.add(p.name);
        ports.add(String(p.containerPort));
      }
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const port = (c[probe] as { httpGet?: { port: string | number } } | undefined)?.httpGet?.port;
        if (typeof port === "string") assert.ok(ports.has(port), `${cat}: ${probe} names no port ${port}`);
      }
      const image = String(c["image"]);
      if (image.includes("jaeger")) continue; // not ours: its environment is Jaeger's
      // The container's environment as the server would see it, and the server's verdict on it.
      const env: Record<string, string> = {};
      for (const from of (c["envFrom"] as Array<{ configMapRef?: { name: string } }>) ?? []) {
        if (from.configMapRef === undefined) continue;
        const data = configMaps.get(from.configMapRef.name);
        assert.ok(data, `${cat}: envFrom names no ConfigMap ${from.configMapRef.name}`);
        Object.assign(env, data);
      }
      for (const e of (c["env"] as EnvVar[]) ?? []) {
        env[e.name] = e.value ?? placeholder(e.name);
      }
      for (const name of Object.keys(env))
        if (/^(IMPP|OTEL)_/.test(name)) assert.ok(KNOWN.has(name), `${cat}: ${name} is not a setting`);
      const config = loadConfig(env, { hostname: "pod", pid: 1 });
      assert.ok(
        !(config instanceof ConfigError),
        `${cat}: ${config instanceof ConfigError ? config.message : ""}`,
      );
      assert.deepEqual(config.warnings, [], `${cat}: the server warns about its environment`);
      // (A Job's `impp migrate` names no roles: that is not an edge.)
      if (w.kind === "Deployment" && config.roles.includes("edge")) {
        const grace = spec.template.spec["terminationGracePeriodSeconds"] as number;
        assert.ok(grace * 1000 > config.limits.drainGraceMs, `${cat}: grace ${grace}s ≤ the drain`);
      }
    }
    portsOf.set(w.metadata.name, ports);
  }

  for (const s of byKind("Service")) {
    const spec = s.spec as {
      selector: Record<string, string>;
      ports: Array<{ targetPort?: string | number }>;
    };
    // Deployments: a Job's pod (the migration) comes and goes, and serves nothing.
    const selected = deployments.filter((w) => {
      const labels = (w.spec as { template: { metadata?: { labels?: Record<string, string> } } }).template
        .metadata?.labels;
      return Object.entries(spec.selector).every(([k, v]) => labels?.[k] === v);
    });
    assert.ok(selected.length > 0, `${where}: Service ${s.metadata.name} selects no pods`);
    for (const p of spec.ports) {
      if (typeof p.targetPort !== "string") continue;
      assert.ok(
        selected.every((w) => portsOf.get(w.metadata.name)?.has(p.targetPort as string)),
        `${where}: Service ${s.metadata.name} targets the port ${p.targetPort}, missing in a pod it selects`,
      );
    }
  }

  const scalers = [...byKind("HorizontalPodAutoscaler"), ...byKind("ScaledObject")];
  const targets = scalers.map((a) => (a.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name);
  assert.equal(new Set(targets).size, targets.length, `${where}: two autoscalers on one Deployment`);
  for (const a of scalers) {
    const name = (a.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name;
    const d = deployments.find((x) => x.metadata.name === name);
    assert.ok(d, `${where}: ${a.kind} ${a.metadata.name} scales no Deployment ${name}`);
    assert.equal(d.spec?.["replicas"], undefined, `${where}: ${name} is autoscaled yet sets replicas`);
    const containers = podSpecOf(d)!["containers"] as Array<{ resources?: { requests?: { cpu?: string } } }>;
    for (const c of containers) assert.ok(c.resources?.requests?.cpu, `${where}: ${name} has no CPU request`);
  }
}

/** The env names (own and through ConfigMaps) of the first container of the Deployment named like `suffix`. */
function envNames(objects: Obj[], suffix: string): string[] {
  const configMaps = new Map(objects.filter((o) => o.kind === "ConfigMap").map((c) => [c.metadata.name, c]));
  const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name.endsWith(suffix));
  assert.ok(d, `no Deployment *${suffix}`);
  const c = (podSpecOf(d)!["containers"] as Array<Record<string, unknown>>)[0]!;
  const names = ((c["env"] as EnvVar[]) ?? []).map((e) => e.name);
  for (const f of (c["envFrom"] as Array<{ configMapRef?: { name: string } }>) ?? [])
    names.push(...Object.keys(configMaps.get(f.configMapRef?.name ?? "")?.data ?? {}));
  return [...new Set(names)].sort();
}

function check(objects: Obj[], where: string): void {
  assert.ok(objects.length > 0, `${where}: nothing rendered`);
  for (const o of objects) validateSchema(o, where);
  crossCheck(objects, where);
}

// ------------------------------------------------------------------ the chart

describe("Helm chart, rendered", () => {
  let dir = "";
  let renderer = "";
  before(() => {
    if (!GO) return;
    dir = mkdtempSync(path.join(tmpdir(), "impp-render-"));
    renderer = path.join(dir, "helmrender");
    const built = spawnSync("go", ["build", "-o", renderer, path.join(root, "deploy/helm/render/main.go")], {
      encoding: "utf8",
      env: { ...process.env, GO111MODULE: "off", GOPATH: "/usr/share/gocode" },
    });
    assert.equal(built.status, 0, `go build: ${built.stderr}`);
  });
  after(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  const render = (values: string[], setYaml?: string) => {
    const args = [chart, "impp", ...values.map((v) => path.join(chart, "ci", v))];
    if (setYaml !== undefined) args.push("--set-yaml", setYaml);
    return spawnSync(renderer, args, { encoding: "utf8" });
  };
  const rendered = (values: string[], setYaml?: string) => {
    const r = render(values, setYaml);
    assert.equal(r.status, 0, `render ${values.join(" ")}: ${r.stderr}`);
    return parseObjects(r.stdout, `chart ${values.join(" ")}${setYaml ? ` ${setYaml}` : ""}`);
  };

  test("the minimum values: valid objects; edges on CPU only, with the connection limit and readiness gate", (t) => {
    if (!need(GO, "go", t)) return;
    const objects = rendered(["default-values.yaml"]);
    check(objects, "chart default-values");
    const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "impp-edge");
    assert.ok(hpa);
    assert.deepEqual(
      (hpa.spec!["metrics"] as Array<{ type: string }>).map((m) => m.type),
      ["Resource"],
    );
    const env = envNames(objects, "-edge");
    for (const n of ["IMPP_MAX_CONNECTIONS", "IMPP_READY_MAX_CONNECTIONS_PERCENT"])
      assert.ok(env.includes(n), n);
    assert.ok(!env.includes("OTEL_EXPORTER_OTLP_ENDPOINT"), "no tracing unless asked");
    assert.equal(objects.filter((o) => o.metadata.name.endsWith("-jaeger")).length, 0);
  });

  test("every option on: the HPA scales on connections per pod too; Jaeger is there; objects valid", (t) => {
    if (!need(GO, "go", t)) return;
    const objects = rendered(["full-values.yaml"]);
    check(objects, "chart full-values");
    const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "impp-edge");
    assert.ok(hpa?.spec);
    const pods = (hpa.spec["metrics"] as Array<Record<string, unknown>>).find((m) => m["type"] === "Pods");
    assert.deepEqual(pods, {
      type: "Pods",
      pods: { metric: { name: "impp_connections" }, target: { type: "AverageValue", averageValue: "35000" } },
    });
    assert.ok(objects.some((o) => o.kind === "Service" && o.metadata.name === "impp-jaeger"));
  });

  test("KEDA: a ScaledObject with a prometheus and a cpu trigger replaces the edge HPA; traces go to the chart's Jaeger", (t) => {
    if (!need(GO, "go", t)) return;
    const objects = rendered(["keda-values.yaml"]);
    check(objects, "chart keda-values");
    assert.equal(
      objects.filter((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "impp-edge").length,
      0,
    );
    const so = objects.find((o) => o.kind === "ScaledObject");
    assert.ok(so);
    const triggers = so.spec!["triggers"] as Array<{ type: string; metadata: Record<string, string> }>;
    assert.deepEqual(
      triggers.map((x) => x.type),
      ["cpu", "prometheus"],
    );
    assert.equal(triggers[1]!.metadata["threshold"], "14000");
    assert.match(
      triggers[1]!.metadata["query"]!,
      /^sum\(impp_connections\{namespace="impp", pod=~"impp-edge-\.\*"\}\)$/,
    );
    const edge = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "impp-edge")!;
    const env = (podSpecOf(edge)!["containers"] as Array<{ env: EnvVar[] }>)[0]!.env;
    assert.equal(env.find((e) => e.name === "OTEL_EXPORTER_OTLP_ENDPOINT")?.value, "http://impp-jaeger:4318");
  });

  test("the guards: a connection target at or above the readiness gate, a missing server name", (t) => {
    if (!need(GO, "go", t)) return;
    const high = render(
      ["default-values.yaml"],
      "{edge: {autoscaling: {connections: {enabled: true, targetPerPod: 18000}}}}",
    );
    assert.notEqual(high.status, 0);
    assert.match(
      high.stderr,
      /targetPerPod \(18000\) must be below the readiness gate, 90% of edge.maxConnections = 18000/,
    );
    const below = render(
      ["default-values.yaml"],
      "{edge: {autoscaling: {connections: {enabled: true, targetPerPod: 17999}}}}",
    );
    assert.equal(below.status, 0, below.stderr);
    const noName = render(["default-values.yaml"], "{edge: {serverName: ''}}");
    assert.notEqual(noName.status, 0);
    assert.match(noName.stderr, /edge.serverName is required/);
  });
});

// ------------------------------------------------------------------ kustomize

describe("k8s/ (kustomize), rendered", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "impp-kustomize-"));
  });
  after(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  const kustomize = (target: string) => {
    const r = spawnSync("kubectl", ["kustomize", target], { encoding: "utf8" });
    assert.equal(r.status, 0, `kubectl kustomize ${target}: ${r.stderr}`);
    return parseObjects(r.stdout, target);
  };
  /** An overlay of the base with the given components (kustomize wants relative paths). */
  const withComponents = (name: string, components: string[]) => {
    const at = path.join(dir, name);
    mkdirSync(at);
    const rel = (p: string) => path.relative(at, path.join(root, p));
    writeFileSync(
      path.join(at, "kustomization.yaml"),
      [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        `resources: [${rel("k8s/base")}]`,
        `components: [${components.map((c) => rel(`k8s/components/${c}`)).join(", ")}]`,
        "",
      ].join("\n"),
    );
    return kustomize(at);
  };

  test("the base and the example overlay: valid objects, the same edge settings as the chart's defaults", (t) => {
    if (!need(KUBECTL, "kubectl", t)) return;
    const base = kustomize(path.join(root, "k8s/base"));
    check(base, "k8s/base");
    check(kustomize(path.join(root, "k8s/overlays/example")), "k8s/overlays/example");
    const env = envNames(base, "-edge");
    for (const n of ["IMPP_MAX_CONNECTIONS", "IMPP_READY_MAX_CONNECTIONS_PERCENT"])
      assert.ok(env.includes(n), n);
  });

  test("components: tls, servicemonitor, autoscale-connections (a Pods metric), keda (a ScaledObject, no HPA)", (t) => {
    if (!need(KUBECTL, "kubectl", t)) return;
    check(withComponents("tls", ["tls", "servicemonitor"]), "k8s base+tls+servicemonitor");
    const adapter = withComponents("adapter", ["autoscale-connections"]);
    check(adapter, "k8s base+autoscale-connections");
    const hpa = adapter.find((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "impp-edge")!;
    assert.deepEqual(
      (hpa.spec!["metrics"] as Array<{ type: string }>).map((m) => m.type),
      ["Resource", "Pods"],
    );
    const keda = withComponents("keda", ["keda"]);
    check(keda, "k8s base+keda");
    assert.equal(keda.filter((o) => o.kind === "HorizontalPodAutoscaler").length, 0);
    assert.equal(keda.filter((o) => o.kind === "ScaledObject").length, 1);
  });
});

test("the chart's default edge settings and k8s/base's name the same variables", (t) => {
  if (!need(GO, "go", t) || !need(KUBECTL, "kubectl", t)) return;
  const dir = mkdtempSync(path.join(tmpdir(), "impp-parity-"));
  try {
    const renderer = path.join(dir, "helmrender");
    const built = spawnSync("go", ["build", "-o", renderer, path.join(root, "deploy/helm/render/main.go")], {
      encoding: "utf8",
      env: { ...process.env, GO111MODULE: "off", GOPATH: "/usr/share/gocode" },
    });
    assert.equal(built.status, 0, built.stderr);
    const r = spawnSync(renderer, [chart, "impp", path.join(chart, "ci/default-values.yaml")], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const fromChart = envNames(parseObjects(r.stdout, "chart"), "-edge");
    const k = spawnSync("kubectl", ["kustomize", path.join(root, "k8s/base")], { encoding: "utf8" });
    const fromBase = envNames(parseObjects(k.stdout, "k8s/base"), "-edge");
    assert.deepEqual(fromBase, fromChart);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("values.schema.json", () => {
  const read = (f: string) => parseYaml(readFileSync(path.join(chart, f), "utf8")) as Record<string, unknown>;
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const cur = out[k];
      out[k] =
        v !== null && typeof v === "object" && !Array.isArray(v) && cur !== null && typeof cur === "object"
          ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
    return out;
  };
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(readFileSync(path.join(chart, "values.schema.json"), "utf8")));
  const defaults = read("values.yaml");

  test("accepts values.yaml and every ci value set over it", () => {
    assert.ok(validate(defaults), JSON.stringify(validate.errors));
    for (const f of ["default-values.yaml", "full-values.yaml", "keda-values.yaml"]) {
      assert.ok(validate(merge(defaults, read(`ci/${f}`))), `${f}: ${JSON.stringify(validate.errors)}`);
    }
  });

  test("rejects an unknown autoscaling provider, a misspelt key, a readiness percent over 100", () => {
    const bad = [
      { edge: { autoscaling: { connections: { provider: "hpa" } } } },
      { edge: { autoscaling: { connection: { enabled: true } } } },
      { edge: { readyMaxConnectionsPercent: 120 } },
      { jaeger: { enabled: "yes" } },
    ];
    for (const b of bad) assert.equal(validate(merge(defaults, b)), false, JSON.stringify(b));
  });
});
