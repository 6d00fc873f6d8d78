// Every environment variable the deployment files set or name — docker compose, the Helm chart
// (templates, values, CI value sets, schema), k8s/ (kustomize) and the Dockerfile — is a setting
// the server knows (libs/config settings.ts). A misspelt IMPP_ name would be warned about at
// start and ignored: here it fails the build instead. Comments count too: they tell operators
// what to set.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { settings } from "@impp/config";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const KNOWN = new Set(settings.map((s) => s.name));
const NAME = /\b((?:IMPP|OTEL)_[A-Z0-9_]*[A-Z0-9])\b/g;

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(path.join(root, dir)).sort()) {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) files(rel, out);
    else out.push(rel);
  }
  return out;
}

const DEPLOY_FILES = [
  ...files("deploy").filter((f) => !f.endsWith(".md") && !f.endsWith(".go")),
  ...files("k8s"),
];

/**
 * Every IMPP_/OTEL_ name in `text`, with its line number. IMPP_TEST_* names are the test harness's
 * own variables (testing/cluster.ts, deploy/scripts/test-image.sh), read by the tests and never by
 * the server: they are left out.
 */
function names(text: string): Array<{ name: string; line: number }> {
  return text
    .split("\n")
    .flatMap((l, i) => [...l.matchAll(NAME)].map((m) => ({ name: m[1]!, line: i + 1 })))
    .filter(({ name }) => !name.startsWith("IMPP_TEST_"));
}

test("the deployment files name only settings of the server", () => {
  const seen = new Map<string, number>();
  for (const file of DEPLOY_FILES) {
    for (const { name, line } of names(readFileSync(path.join(root, file), "utf8"))) {
      assert.ok(KNOWN.has(name), `${file}:${line}: ${name} is not a setting (libs/config/src/settings.ts)`);
      seen.set(name, (seen.get(name) ?? 0) + 1);
    }
  }
  // The check reads what it should: the compose file, the chart and k8s/ set these.
  for (const n of [
    "IMPP_ROLES",
    "IMPP_NATS_URL",
    "IMPP_REDIS_URL",
    "IMPP_DATABASE_URL",
    "IMPP_SERVER_NAME",
    "IMPP_DRAIN_GRACE_MS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
  ])
    assert.ok(seen.has(n), `no deployment file names ${n}`);
});

test("the chart's templates set only settings; so do compose and k8s (per file)", () => {
  const setIn = (file: string) => {
    const text = readFileSync(path.join(root, file), "utf8");
    // `- name: X` (Kubernetes env), `X: value` (compose environment), `- X=value` (kustomize literals).
    const re = /(?:-\s*name:\s*["']?|^\s*|-\s*)((?:IMPP|OTEL)_[A-Z0-9_]+)(?:["']?\s*$|\s*:|=)/gm;
    return [...text.matchAll(re)].map((m) => m[1]!);
  };
  let total = 0;
  for (const file of DEPLOY_FILES.filter((f) => /\.(ya?ml|tpl)$/.test(f))) {
    for (const n of setIn(file)) {
      assert.ok(KNOWN.has(n), `${file} sets ${n}, which is not a setting`);
      total++;
    }
  }
  assert.ok(total >= 30, `only ${total} settings found set in the deployment files`);
  assert.equal(KNOWN.has("IMPP_NO_SUCH_SETTING"), false);
});
