#!/usr/bin/env node
// Runs every package's compiled tests with node's test runner.
//
// Test files are `dist/**/*.test.js` inside libs/* and services/*. Files named
// `*.dist.test.js` are the distributed suites: they need real NATS (JetStream),
// Redis and PostgreSQL. When those cannot be reached the suites are skipped with
// a clear message — except under CI=true (or IMPP_REQUIRE_SERVICES=1), where an
// unreachable service fails the run: a distributed test never silently skips in CI.
//
// Usage: node scripts/test.mjs [path-substring ...]   (e.g. `npm test -- libs/protocol`)
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const serviceUrls = {
  IMPP_TEST_NATS_URL: process.env.IMPP_TEST_NATS_URL ?? "nats://127.0.0.1:4222",
  IMPP_TEST_REDIS_URL: process.env.IMPP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
  IMPP_TEST_DATABASE_URL: process.env.IMPP_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
};

function findTests(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === "node_modules") continue;
    const full = path.join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) findTests(full, out);
    else if (name.endsWith(".test.js")) out.push(full);
  }
  return out;
}

function reachable(url) {
  const u = new URL(url);
  const port =
    Number(u.port) || { "nats:": 4222, "redis:": 6379, "postgres:": 5432, "postgresql:": 5432 }[u.protocol];
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port, timeout: 2000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

const filters = process.argv.slice(2);
let files = [];
for (const group of ["libs", "services"]) {
  for (const pkg of readdirSync(path.join(root, group))) {
    findTests(path.join(root, group, pkg, "dist"), files);
  }
}
files.sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));

const distributed = files.filter((f) => f.endsWith(".dist.test.js"));
const required = process.env.CI === "true" || process.env.IMPP_REQUIRE_SERVICES === "1";
if (distributed.length > 0) {
  const down = [];
  for (const [name, url] of Object.entries(serviceUrls)) {
    if (!(await reachable(url))) down.push(`${name}=${url}`);
  }
  if (down.length > 0) {
    const why = `cannot reach: ${down.join(", ")}`;
    if (required) {
      console.error(`\nFAIL: the distributed suites need NATS, Redis and PostgreSQL — ${why}.`);
      console.error("In CI every suite must run. Start the services (see .ci/run) or set IMPP_TEST_*_URL.\n");
      process.exit(1);
    }
    console.log(`\nSKIPPING ${distributed.length} distributed suite(s) — ${why}:`);
    for (const f of distributed) console.log(`  - ${path.relative(root, f)}`);
    console.log("Start NATS (with JetStream), Redis and PostgreSQL, or set IMPP_TEST_*_URL, to run them.\n");
    files = files.filter((f) => !f.endsWith(".dist.test.js"));
  }
}

if (files.length === 0) {
  console.error("no test files found — did the build run? (npm test builds first)");
  process.exit(1);
}

const args = [
  "--test",
  `--test-concurrency=${process.env.IMPP_TEST_CONCURRENCY ?? 2}`,
  "--test-timeout=180000",
  ...files.map((f) => path.relative(root, f)),
];
const child = spawn(process.execPath, args, {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, ...serviceUrls, IMPP_LOG_LEVEL: process.env.IMPP_LOG_LEVEL ?? "silent" },
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
