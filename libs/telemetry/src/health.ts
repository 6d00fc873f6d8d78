import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { HealthServerError } from "./errors.js";

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HealthServerOptions {
  readonly port: number;
  /**
   * Default 0.0.0.0 so probes and scrapers from outside the container reach it. Anything mounted via
   * `routes` is exposed there too: bind 127.0.0.1 (or a separate server) for admin-only routes.
   */
  readonly host?: string;
  readonly registry: Registry;
  /** /readyz answers 200 when this is true, 503 otherwise (and when it throws/rejects). */
  readonly ready: () => boolean | Promise<boolean>;
  /**
   * Extra routes, any method, e.g. a local admin endpoint. Built-in paths take precedence. A key is an
   * exact path, or a prefix ending in "/*" ("/admin/users/*" serves "/admin/users/bob/password", not
   * "/admin/users"): the longest matching prefix wins, and an exact key beats every prefix.
   */
  readonly routes?: Record<string, RouteHandler>;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

const TEXT = "text/plain; charset=utf-8";

function send(res: ServerResponse, status: number, body: string, type = TEXT, head = false): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(head ? undefined : body);
}

/** The path part of a request target, without query; never throws on odd input. */
function pathOf(url: string | undefined): string {
  if (url === undefined) return "/";
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

async function readiness(ready: HealthServerOptions["ready"]): Promise<boolean> {
  try {
    return (await ready()) === true;
  } catch {
    return false;
  }
}

type Builtin = (opts: HealthServerOptions, res: ServerResponse, head: boolean) => Promise<void> | void;

const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ["/healthz", (_o, res, head) => send(res, 200, "ok\n", TEXT, head)],
  [
    "/readyz",
    async (o, res, head) => {
      const ok = await readiness(o.ready);
      send(res, ok ? 200 : 503, ok ? "ready\n" : "not ready\n", TEXT, head);
    },
  ],
  [
    "/metrics",
    async (o, res, head) => send(res, 200, await o.registry.metrics(), o.registry.contentType, head),
  ],
]);

async function handle(opts: HealthServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req.url);
  const builtin = BUILTINS.get(path);
  if (builtin !== undefined) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(res, 405, "method not allowed\n");
      return;
    }
    await builtin(opts, res, req.method === "HEAD");
    return;
  }
  const route = opts.routes === undefined ? undefined : findRoute(opts.routes, path);
  if (route !== undefined) {
    route(req, res);
    return;
  }
  send(res, 404, "not found\n");
}

function findRoute(routes: Record<string, RouteHandler>, path: string): RouteHandler | undefined {
  // Own-property lookup only: a path like "/__proto__" or "/constructor" must not reach Object.prototype.
  if (Object.hasOwn(routes, path)) return routes[path];
  let best: RouteHandler | undefined;
  let bestLength = -1;
  for (const key of Object.keys(routes)) {
    if (!key.endsWith("/*")) continue;
    const prefix = key.slice(0, -1);
    if (path.length > prefix.length && path.startsWith(prefix) && prefix.length > bestLength) {
      best = routes[key];
      bestLength = prefix.length;
    }
  }
  return best;
}

/** Serves /healthz, /readyz, /metrics and any extra routes. Port 0 picks an ephemeral port. */
export function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    handle(opts, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  // Probes and scrapers keep connections alive; close() must not wait for them.
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    const onError = (err: Error) =>
      reject(
        new HealthServerError("listen_failed", `health server cannot listen: ${err.message}`, { cause: err }),
      );
    server.once("error", onError);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => {
      server.off("error", onError);
      const port = (server.address() as AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
