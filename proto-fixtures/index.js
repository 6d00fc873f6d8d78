// Loader for the shared IMPP wire fixtures (fixtures/*.json, written by scripts/generate.mjs).
// Plain JS with no dependencies so every package's tests can use it without a build step.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const fixturesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

let cache;

/** Every fixture of every file, in file order (examples, version, then the families). */
export function loadFixtures() {
  if (cache === undefined) {
    cache = [];
    const files = readdirSync(fixturesDir)
      .filter((f) => f.endsWith(".json"))
      .sort((a, b) => fileRank(a) - fileRank(b) || a.localeCompare(b));
    for (const file of files) {
      const doc = JSON.parse(readFileSync(path.join(fixturesDir, file), "utf8"));
      for (const fx of doc.fixtures) cache.push(Object.freeze({ ...fx, file: file.slice(0, -5) }));
    }
    Object.freeze(cache);
  }
  return cache;
}

function fileRank(name) {
  return name === "examples.json" ? 0 : name === "version.json" ? 1 : 2;
}

/** The fixture with this name (e.g. "im/message-send-request"); throws if there is none. */
export function fixture(name) {
  const fx = loadFixtures().find((f) => f.name === name);
  if (fx === undefined) throw new Error(`no fixture named ${JSON.stringify(name)}`);
  return fx;
}

/** Fixtures selected by family name ("IM", "VERSION", ...), message type name and/or kind. */
export function findFixtures(query = {}) {
  return loadFixtures().filter(
    (f) =>
      (query.family === undefined || f.family === query.family) &&
      (query.message === undefined || f.message === query.message) &&
      (query.kind === undefined || f.kind === query.kind) &&
      (query.direction === undefined || f.direction === query.direction) &&
      (query.truncated === undefined || (f.truncated === true) === query.truncated),
  );
}

/** The fixture's bytes. */
export function fixtureBytes(fx) {
  return Buffer.from(fx.hex, "hex");
}
