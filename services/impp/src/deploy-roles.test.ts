// The deployment files name roles in IMPP_ROLES, in the Helm chart's helpers, its values and
// its schema. None of them can import ROLES, so this test holds them to it: adding a role to
// ROLES (@impp/config) fails here until every place that lists the backend roles has it, and
// a role that needs the database fails until STORE_ROLES and the chart's impp.storeRoles do.
// The files are read as text (there is no YAML parser among the dependencies, and the Helm
// templates are not YAML): each reader fails loudly on a shape it does not know.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ROLES } from "@impp/config";
import { storeRoles as STORE_ROLES } from "./modules.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");
const chart = "deploy/helm/impp";

const BACKEND_ROLES: readonly string[] = ROLES.filter((r) => r !== "edge");

function files(dir: string, test: (name: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(path.join(root, dir)).sort()) {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) files(rel, test, out);
    else if (test(name)) out.push(rel);
  }
  return out;
}

const unquote = (s: string) => s.trim().replace(/^(["'])(.*)\1$/, "$2");
const list = (s: string) =>
  unquote(s)
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r !== "");
const isComment = (line: string) => line.trimStart().startsWith("#");

/**
 * Every IMPP_ROLES value in a YAML-ish text: `IMPP_ROLES: a,b` (compose), `IMPP_ROLES=a,b`
 * (generator literals), `- name: IMPP_ROLES` + `value: a,b` (Kubernetes env). A Helm
 * expression as the value is returned as undefined. Fails on a mention it cannot read.
 */
function envRoles(text: string, where: string): (string[] | undefined)[] {
  const lines = text.split("\n");
  const out: (string[] | undefined)[] = [];
  lines.forEach((line, i) => {
    if (isComment(line) || !line.includes("IMPP_ROLES")) return;
    let m = /\bIMPP_ROLES\s*[:=]\s*(\S.*)$/.exec(line);
    if (m === null && /-?\s*name:\s*["']?IMPP_ROLES["']?\s*$/.test(line)) {
      m = /^\s*value:\s*(\S.*)$/.exec(lines[i + 1] ?? "");
    }
    assert.ok(m !== null, `${where}:${i + 1}: cannot read IMPP_ROLES from ${JSON.stringify(line.trim())}`);
    out.push(m[1]!.includes("{{") ? undefined : list(m[1]!));
  });
  return out;
}

/** The body of `{{- define "NAME" -}} ... {{- end -}}`, which must be a plain comma list. */
function helmList(helpers: string, name: string): string[] {
  const m = new RegExp(
    `\\{\\{-?\\s*define\\s+"${name.replace(".", "\\.")}"\\s*-?\\}\\}([\\s\\S]*?)\\{\\{-?\\s*end\\s*-?\\}\\}`,
  ).exec(helpers);
  assert.ok(m !== null, `${chart}/templates/_helpers.tpl: no define "${name}"`);
  const body = m[1]!.trim();
  assert.match(
    body,
    /^[a-z][a-z0-9-]*(,[a-z][a-z0-9-]*)*$/,
    `${name} must be a plain comma list, is ${body}`,
  );
  return body.split(",");
}

/** The value of `roles:` in the top-level `services:` block of a values file, if set. */
function valuesRoles(text: string): string[] | undefined {
  const m = /^services:[^\n]*\n((?:(?:[ \t][^\n]*|[ \t]*)\n)*)/m.exec(text);
  if (m === null) return undefined;
  const roles = /^ {2}roles:\s*(\S.*)$/m.exec(m[1]!);
  return roles === null ? undefined : list(roles[1]!.replace(/\s+#.*$/, ""));
}

function assertKnown(roles: readonly string[], where: string) {
  for (const r of roles) {
    assert.ok(
      (ROLES as readonly string[]).includes(r),
      `${where}: role ${JSON.stringify(r)} is not in ROLES`,
    );
  }
}

function assertCoversBackend(roles: Iterable<string>, where: string) {
  const have = new Set(roles);
  const missing = BACKEND_ROLES.filter((r) => !have.has(r));
  assert.deepEqual(missing, [], `${where} does not run every backend role of ROLES`);
}

const sorted = (roles: Iterable<string>) => [...roles].sort();
const runsStore = (roles: readonly string[]) =>
  roles.some((r) => (STORE_ROLES as readonly string[]).includes(r));

test("STORE_ROLES are roles", () => {
  assertKnown(STORE_ROLES, "STORE_ROLES");
  assert.ok(!(STORE_ROLES as readonly string[]).includes("edge"), "an edge never opens the database");
});

describe("Helm chart", () => {
  const helpers = read(`${chart}/templates/_helpers.tpl`);

  test("impp.backendRoles is every role of ROLES but edge", () => {
    assert.deepEqual(
      sorted(helmList(helpers, "impp.backendRoles")),
      sorted(BACKEND_ROLES),
      `${chart}/templates/_helpers.tpl: impp.backendRoles`,
    );
  });

  test("impp.storeRoles is STORE_ROLES", () => {
    assert.deepEqual(
      sorted(helmList(helpers, "impp.storeRoles")),
      sorted(STORE_ROLES),
      `${chart}/templates/_helpers.tpl: impp.storeRoles`,
    );
  });

  test("no template names a backend role outside those two helpers", () => {
    const withoutLists = helpers.replace(
      /(\{\{-?\s*define\s+"impp\.(?:backendRoles|storeRoles)"\s*-?\}\})[\s\S]*?(\{\{-?\s*end\s*-?\}\})/g,
      "$1$2",
    );
    for (const file of files(`${chart}/templates`, () => true)) {
      const text = file.endsWith("_helpers.tpl") ? withoutLists : read(file);
      for (const role of BACKEND_ROLES) {
        assert.ok(
          !text.includes(`"${role}"`),
          `${file} names the role "${role}": use include "impp.backendRoles" / "impp.storeRoles"`,
        );
      }
      for (const roles of envRoles(text, file)) if (roles !== undefined) assertKnown(roles, file);
    }
  });

  test("values.yaml runs every backend role; the ci value sets name only backend roles", () => {
    const defaults = valuesRoles(read(`${chart}/values.yaml`));
    assert.ok(defaults !== undefined, `${chart}/values.yaml: no services.roles`);
    assertKnown(defaults, `${chart}/values.yaml services.roles`);
    assert.ok(!defaults.includes("edge"), "services.roles must not name edge (it has its own Deployment)");
    assertCoversBackend(defaults, `${chart}/values.yaml services.roles`);
    for (const file of files(`${chart}/ci`, (n) => n.endsWith(".yaml"))) {
      const roles = valuesRoles(read(file));
      if (roles === undefined) continue;
      assertKnown(roles, `${file} services.roles`);
      for (const r of roles) assert.ok(BACKEND_ROLES.includes(r), `${file}: services.roles names ${r}`);
    }
  });

  test("values.schema.json accepts exactly the backend roles in services.roles", () => {
    const schema = JSON.parse(read(`${chart}/values.schema.json`));
    const pattern: string = schema.properties.services.properties.roles.pattern;
    const alternations = [...pattern.matchAll(/\(([a-z0-9|-]+)\)/g)].map((m) => sorted(m[1]!.split("|")));
    assert.ok(alternations.length > 0, `cannot find the role alternation in ${pattern}`);
    for (const a of alternations) {
      assertKnown(a, `${chart}/values.schema.json services.roles pattern`);
      assert.deepEqual(a, sorted(BACKEND_ROLES), `${chart}/values.schema.json services.roles pattern`);
    }
    const re = new RegExp(pattern);
    for (const r of BACKEND_ROLES) assert.match(r, re);
    assert.match(BACKEND_ROLES.join(", "), re);
    assert.doesNotMatch("edge", re);
    assert.doesNotMatch(`${BACKEND_ROLES[0]},edge`, re);
    assert.doesNotMatch("nonsense", re);
  });
});

describe("docker compose", () => {
  const file = "deploy/docker-compose.yml";
  const text = read(file);
  // Top-level `x-…: &anchor` blocks that carry the database URL.
  const databaseAnchors = [...text.matchAll(/^[\w-]+:[ \t]*&([\w-]+)[ \t]*\n((?:[ \t]+[^\n]*\n|\n)*)/gm)]
    .filter((m) => m[2]!.includes("IMPP_DATABASE_URL"))
    .map((m) => m[1]!);
  // The service blocks: `  name:` under the top-level `services:`, up to the next line at that indent.
  const section = /^services:[ \t]*\n([\s\S]*?)(?=^\S|$(?![\s\S]))/m.exec(text)?.[1] ?? "";
  const services = [...section.matchAll(/^ {2}([\w-]+):[ \t]*\n((?:(?: {3,}[^\n]*)?\n)*)/gm)].map((m) => ({
    name: m[1]!,
    body: m[2]!,
  }));

  test("every IMPP_ROLES names roles of ROLES, and together they run every backend role", () => {
    const all = envRoles(text, file);
    assert.ok(all.length > 0, `${file}: no IMPP_ROLES`);
    for (const roles of all) assertKnown(roles!, file);
    assertCoversBackend(
      all.flatMap((r) => r!),
      file,
    );
  });

  test("a service gets IMPP_DATABASE_URL exactly when it runs a role of STORE_ROLES", () => {
    assert.ok(databaseAnchors.length > 0, `${file}: no anchor holds IMPP_DATABASE_URL`);
    const serving = services.filter((s) => envRoles(s.body, `${file} ${s.name}`).length > 0);
    assert.ok(serving.length >= 2, `${file}: found ${serving.length} services with IMPP_ROLES`);
    for (const s of serving) {
      const [roles] = envRoles(s.body, `${file} ${s.name}`);
      const database =
        s.body.includes("IMPP_DATABASE_URL") || databaseAnchors.some((a) => s.body.includes(`*${a}`));
      assert.equal(
        database,
        runsStore(roles!),
        `${file}: service ${s.name} (IMPP_ROLES ${roles!.join(",")})`,
      );
    }
  });
});

describe("k8s (kustomize)", () => {
  const manifests = files("k8s", (n) => n.endsWith(".yaml") || n.endsWith(".yml"));

  test("every IMPP_ROLES names roles of ROLES, and k8s/base runs every backend role", () => {
    const base: string[] = [];
    for (const file of manifests) {
      for (const roles of envRoles(read(file), file)) {
        assert.ok(roles !== undefined, `${file}: IMPP_ROLES is not a plain list`);
        assertKnown(roles, file);
        if (file.startsWith(`k8s${path.sep}base`)) base.push(...roles);
      }
    }
    assertCoversBackend(base, "k8s/base");
  });

  test("a Deployment gets IMPP_DATABASE_URL exactly when it runs a role of STORE_ROLES", () => {
    let checked = 0;
    for (const file of manifests) {
      for (const doc of read(file).split(/^---\s*$/m)) {
        const all = envRoles(doc, file);
        if (all.length === 0) continue;
        assert.equal(all.length, 1, `${file}: one IMPP_ROLES per object`);
        const roles = all[0]!;
        const database = doc.split("\n").some((l) => !isComment(l) && /name:\s*IMPP_DATABASE_URL\b/.test(l));
        assert.equal(database, runsStore(roles), `${file} (IMPP_ROLES ${roles.join(",")})`);
        checked++;
      }
    }
    assert.ok(checked >= 2, `only ${checked} objects with IMPP_ROLES under k8s/`);
  });
});

test("testing/cluster.ts names only roles of ROLES", () => {
  const file = "services/impp/src/testing/cluster.ts";
  const found = [...read(file).matchAll(/\bIMPP_ROLES:\s*"([^"]*)"/g)].map((m) => list(m[1]!));
  for (const roles of found) assertKnown(roles, file);
});
