import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ImppClient } from "@impp/client";
import { renderSettingsMarkdown } from "@impp/config";
import { BIN, freePort } from "../testing/cluster.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

interface Started {
  child: ChildProcess;
  dataDir: string;
  port: number;
  httpPort: number;
  output: () => string;
}

/** `impp serve` on a fresh folder, up to its banner; on a port taken meanwhile, again on others. */
async function startServe(env: Record<string, string> = {}, attempt = 1): Promise<Started> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "impp-serve-"));
  const port = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, [BIN, "serve"], {
    env: {
      ...process.env,
      IMPP_DATA_DIR: dataDir,
      IMPP_PORT: String(port),
      IMPP_HOST: "127.0.0.1",
      IMPP_HTTP_PORT: String(httpPort),
      IMPP_DRAIN_GRACE_MS: "500",
      IMPP_LOG_LEVEL: "silent",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const up = await new Promise<boolean>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no banner:\n${out}`)), 30_000);
    child.stdout.on("data", () => {
      if (out.includes("Stop with")) {
        clearTimeout(t);
        resolve(true);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      if (attempt < 3 && out.includes("EADDRINUSE")) resolve(false);
      else reject(new Error(`exited ${code}:\n${out}`));
    });
  });
  if (up) return { child, dataDir, port, httpPort, output: () => out };
  await rm(dataDir, { recursive: true, force: true });
  return startServe(env, attempt + 1);
}

test("impp serve on a fresh folder: certificate made, banner says how to add a user, SIGTERM drains and exits 0", async () => {
  const { child, dataDir, port, httpPort, output } = await startServe();
  const out = output();
  try {
    assert.match(out, /generated a self-signed certificate/);
    assert.match(out, /No users yet/);
    assert.match(out, /impp user add/);
    assert.ok(existsSync(path.join(dataDir, "tls", "cert.pem")));
    // The fingerprint a client shows when asking to accept the certificate.
    const shown = /SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/.exec(out)?.[1];
    const cert = new X509Certificate(readFileSync(path.join(dataDir, "tls", "cert.pem")));
    assert.equal(shown, cert.fingerprint256);
    const c = await ImppClient.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
    assert.equal((await c.ping()).isError, false);
    const http = `http://127.0.0.1:${httpPort}`;
    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
    assert.match(await (await fetch(`${http}/metrics`)).text(), /^impp_connections\{[^}]*\} 1$/m);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    const info = await c.waitClosed(10_000);
    assert.equal(info.initiator, "server");
    assert.equal(await exited, 0);
  } finally {
    child.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("impp serve: /readyz answers 503 from IMPP_READY_MAX_CONNECTIONS_PERCENT of IMPP_MAX_CONNECTIONS on, 200 again below", async () => {
  // 4 × 50 % = 2 connections: ready with one, not with two.
  const { child, dataDir, port, httpPort } = await startServe({
    IMPP_MAX_CONNECTIONS: "4",
    IMPP_READY_MAX_CONNECTIONS_PERCENT: "50",
  });
  const http = `http://127.0.0.1:${httpPort}`;
  const ready = async () => (await fetch(`${http}/readyz`)).status;
  try {
    const a = await ImppClient.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
    assert.equal((await a.ping()).isError, false);
    assert.equal(await ready(), 200);
    const b = await ImppClient.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
    assert.equal((await b.ping()).isError, false);
    assert.equal(await ready(), 503);
    const metrics = await (await fetch(`${http}/metrics`)).text();
    assert.match(metrics, /^impp_connections_limit\{[^}]*\} 4$/m);
    assert.match(metrics, /^impp_connections\{[^}]*\} 2$/m);
    await b.close();
    // The server sees the close a moment after the client: wait for the outcome itself.
    while ((await ready()) !== 200) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await a.ping()).isError, false);
    await a.close();
  } finally {
    child.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("docs/configuration.md is the rendered settings table (regenerate with `npx impp config --markdown > docs/configuration.md`)", async () => {
  const doc = await readFile(path.join(root, "docs", "configuration.md"), "utf8");
  assert.equal(doc, renderSettingsMarkdown());
});
