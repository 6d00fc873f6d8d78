// The shape of the workspace's imports, read from the TypeScript sources of every
// libs/*/src and services/*/src:
// - no import cycles between the files of a package (static, type-only and dynamic
//   imports all count: a cycle through `import type` is still two modules that cannot
//   be understood apart);
// - a package uses another only through that package's declared exports ("@impp/x" or
//   a subpath listed in its package.json `exports`, like "@impp/bus/contract"), names
//   it among its dependencies, and never reaches into another package by a relative path.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

interface Package {
  name: string;
  dir: string;
  /** Has TypeScript sources (libs/*, services/*), not only a manifest (proto-fixtures). */
  src: boolean;
  exports: Set<string>;
  dependencies: Set<string>;
}

interface Import {
  specifier: string;
  line: number;
}

function packages(): Package[] {
  const dirs = ["libs", "services"].flatMap((group) =>
    readdirSync(path.join(root, group))
      .sort()
      .map((entry) => path.join(root, group, entry)),
  );
  const out: Package[] = [];
  for (const dir of [...dirs, path.join(root, "proto-fixtures")]) {
    const manifest = path.join(dir, "package.json");
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, "utf8")) as {
      name: string;
      exports?: Record<string, unknown>;
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    out.push({
      name: pkg.name,
      dir,
      src: existsSync(path.join(dir, "src")),
      exports: new Set(Object.keys(pkg.exports ?? { ".": "" })),
      dependencies: new Set([
        ...Object.keys(pkg.dependencies ?? {}),
        ...Object.keys(pkg.devDependencies ?? {}),
        ...Object.keys(pkg.peerDependencies ?? {}),
      ]),
    });
  }
  return out;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) sourceFiles(full, out);
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

// Static imports and re-exports start a line (the sources are formatted by Biome);
// dynamic imports and `typeof import("...")` may be anywhere outside a comment.
const STATIC =
  /^[ \t]*(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,\s*)?(?:\*\s*(?:as\s+[\w$]+\s*)?|\{[^}]*\}\s*|[\w$]+\s+)from\s*["']([^"']+)["']/gm;
const BARE = /^[ \t]*import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const lineAt = (index: number) => text.slice(0, index).split("\n").length;
  const out: Import[] = [];
  for (const re of [STATIC, BARE]) {
    for (const m of text.matchAll(re)) out.push({ specifier: m[1]!, line: lineAt(m.index) });
  }
  for (const m of text.matchAll(DYNAMIC)) {
    const line = lineAt(m.index);
    const source = text.split("\n")[line - 1]!.trimStart();
    if (source.startsWith("//") || source.startsWith("*") || source.startsWith("/*")) continue;
    out.push({ specifier: m[1]!, line });
  }
  return out;
}

/** The .ts file a relative specifier names ("./x.js" is ./x.ts once compiled), if there is one. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const target = path.resolve(path.dirname(from), specifier);
  const candidates = [
    target.replace(/\.js$/, ".ts"),
    target.replace(/\.js$/, ".tsx"),
    target,
    `${target}.ts`,
    path.join(target, "index.ts"),
  ];
  return candidates.find((c) => c.endsWith(".ts") && existsSync(c) && statSync(c).isFile());
}

const rel = (file: string) => path.relative(root, file);

test("no import cycles inside any package's src", () => {
  const graph = new Map<string, string[]>();
  for (const pkg of packages().filter((p) => p.src)) {
    for (const file of sourceFiles(path.join(pkg.dir, "src"))) {
      const edges: string[] = [];
      for (const { specifier } of importsOf(file)) {
        if (!specifier.startsWith(".")) continue;
        const target = resolveRelative(file, specifier);
        if (target !== undefined) edges.push(target);
      }
      graph.set(file, edges);
    }
  }
  assert.ok(graph.size > 50, `only ${graph.size} source files found under ${root}`);

  // Tarjan's strongly connected components: every component of more than one file,
  // or a file importing itself, is a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);

  assert.deepEqual(
    cycles.map((c) => c.map(rel)),
    [],
    "files that import each other (directly or around a loop): move what they share into a module both import",
  );
});

test("packages use each other only through declared exports and declared dependencies", () => {
  const all = packages();
  const byName = new Map(all.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const pkg of all.filter((p) => p.src)) {
    for (const file of sourceFiles(path.join(pkg.dir, "src"))) {
      for (const { specifier, line } of importsOf(file)) {
        const where = `${rel(file)}:${line}: ${specifier}`;
        if (specifier.startsWith(".")) {
          const target = path.resolve(path.dirname(file), specifier);
          if (path.relative(pkg.dir, target).startsWith("..")) {
            problems.push(`${where} — reaches outside ${pkg.name}; import the other package by name`);
          }
          continue;
        }
        const m = /^(@impp\/[^/]+)(\/.*)?$/.exec(specifier);
        if (m === null) continue;
        const [, name, subpath] = m as unknown as [string, string, string | undefined];
        const self = name === pkg.name;
        if (self && !file.endsWith(".test.ts")) {
          // Tests may: they check the package's entry points as other packages see them.
          problems.push(`${where} — a package importing itself by name; use a relative import`);
          continue;
        }
        const target = byName.get(name);
        if (target === undefined) {
          problems.push(`${where} — no workspace package ${name}`);
          continue;
        }
        if (!target.exports.has(subpath === undefined ? "." : `.${subpath}`)) {
          problems.push(
            `${where} — not an export of ${name} (${[...target.exports].join(", ")}); export it from its index`,
          );
        }
        if (!self && !pkg.dependencies.has(name)) {
          problems.push(`${where} — ${name} is not in ${pkg.name}'s package.json dependencies`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});
