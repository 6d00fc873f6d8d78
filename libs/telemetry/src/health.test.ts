import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import {
  createMetrics,
  type HealthServer,
  HealthServerError,
  type Metrics,
  startHealthServer,
} from "./index.js";

interface Reply {
  status: number;
  body: string;
  type: string | undefined;
}

function get(port: number, path: string, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, type: res.headers["content-type"] }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("startHealthServer", () => {
  let server: HealthServer;
  let metrics: Metrics;
  let ready: boolean | "throw" = false;

  before(async () => {
    metrics = createMetrics(undefined, { processMetrics: false });
    server = await startHealthServer({
      port: 0,
      host: "127.0.0.1",
      registry: metrics.registry,
      ready: async () => {
        if (ready === "throw") throw new Error("db down");
        return ready;
      },
      routes: {
        "/admin/echo": (req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(`admin ${req.method}`);
        },
        "/admin/items/*": (req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(`items ${req.url}`);
        },
        "/admin/items/special/*": (_req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("special");
        },
      },
    });
  });
  after(() => server.close());

  test("listens on an ephemeral port", () => {
    assert.ok(server.port > 0);
  });

  test("/healthz is 200 ok", async () => {
    const r = await get(server.port, "/healthz");
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), "ok");
  });

  test("/readyz follows the ready callback, and a failing check means not ready", async () => {
    ready = false;
    assert.equal((await get(server.port, "/readyz")).status, 503);
    ready = true;
    assert.equal((await get(server.port, "/readyz?verbose=1")).status, 200);
    ready = "throw";
    assert.equal((await get(server.port, "/readyz")).status, 503);
  });

  test("/metrics serves the Prometheus text with an incremented counter", async () => {
    metrics.framesOut.inc({ family: "presence" }, 7);
    const r = await get(server.port, "/metrics");
    assert.equal(r.status, 200);
    assert.match(r.type ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^impp_frames_out_total\{family="presence"\} 7$/m);
  });

  test("extra routes are mounted; unknown paths are 404; built-ins refuse other methods", async () => {
    assert.deepEqual([(await get(server.port, "/admin/echo", "POST")).body], ["admin POST"]);
    for (const path of ["/nope", "/", "/__proto__", "/constructor", "/admin/echo/x", "/healthz/"]) {
      assert.equal((await get(server.port, path)).status, 404, path);
    }
    const r = await get(server.port, "/metrics", "DELETE");
    assert.equal(r.status, 405);
  });

  test("prefix routes serve the paths below them; the longest prefix wins; the bare prefix is not matched", async () => {
    assert.equal(
      (await get(server.port, "/admin/items/bob/password?x=1", "PUT")).body,
      "items /admin/items/bob/password?x=1",
    );
    assert.equal((await get(server.port, "/admin/items/special/1")).body, "special");
    for (const path of ["/admin/items", "/admin/items/", "/admin/itemsx/1", "/healthz/x"]) {
      assert.equal((await get(server.port, path)).status, 404, path);
    }
  });

  test("a taken port is a typed error", async () => {
    await assert.rejects(
      startHealthServer({
        port: server.port,
        host: "127.0.0.1",
        registry: metrics.registry,
        ready: () => true,
      }),
      (e: unknown) => e instanceof HealthServerError && e.code === "listen_failed",
    );
  });
});
