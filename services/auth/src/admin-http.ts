// The local admin endpoint: JSON over HTTP on the telemetry health server (bound to 127.0.0.1 by
// whoever mounts it). `impp user …` uses it while the server holds the embedded database's lock.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteHandler } from "@impp/telemetry";
import type { AccountsAdmin, AdminErrorCode, AdminResult, ImportEntry } from "./admin.js";

/** Largest request body read; a name and a 1024-byte password fit many times over. */
export const ADMIN_MAX_BODY = 8 * 1024;

export const ADMIN_USERS_PATH = "/admin/users";

/** POST {users: [{line, name, hash}], skipExisting?}: a bulk import, all or nothing (hashes only: the caller hashes). */
export const ADMIN_IMPORT_PATH = "/admin/import";

/** Largest import body: ≈ 150 bytes an account, so some 200,000 accounts a request. */
export const ADMIN_IMPORT_MAX_BODY = 32 * 1024 * 1024;

const STATUS: Record<AdminErrorCode, number> = {
  NAME_INVALID: 400,
  PASSWORD_INVALID: 400,
  ACCOUNT_EXISTS: 409,
  NOT_FOUND: 404,
};

class HttpFailure {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

function sendFailure(res: ServerResponse, f: HttpFailure): void {
  sendJson(
    res,
    f.status,
    { error: f.code, message: f.message },
    f.status === 413 ? { connection: "close" } : {},
  );
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Compares digests, so neither the content nor the length of the token leaks through timing. */
function tokenChecker(token: string): (req: IncomingMessage) => boolean {
  const want = digest(`Bearer ${token}`);
  return (req) => {
    const got = req.headers.authorization;
    return typeof got === "string" && timingSafeEqual(digest(got), want);
  };
}

function readJson(
  req: IncomingMessage,
  maxBody: number = ADMIN_MAX_BODY,
): Promise<Record<string, unknown> | HttpFailure> {
  return new Promise((resolve) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBody) {
      req.resume();
      resolve(new HttpFailure(413, "BODY_TOO_LARGE", `bodies are limited to ${maxBody} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > maxBody) {
        done = true;
        resolve(new HttpFailure(413, "BODY_TOO_LARGE", `bodies are limited to ${maxBody} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("error", () => {
      if (!done) resolve(new HttpFailure(400, "BAD_BODY", "the request body could not be read"));
      done = true;
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        resolve(new HttpFailure(400, "BAD_JSON", "the body is not JSON"));
        return;
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        resolve(new HttpFailure(400, "BAD_JSON", "the body must be a JSON object"));
        return;
      }
      resolve(parsed as Record<string, unknown>);
    });
  });
}

function stringField(body: Record<string, unknown>, key: string): string | HttpFailure {
  const v = body[key];
  return typeof v === "string" ? v : new HttpFailure(400, "BAD_BODY", `"${key}" must be a string`);
}

function answer(res: ServerResponse, r: AdminResult<string>, okStatus: number): void {
  if (r.ok) sendJson(res, okStatus, { name: r.value });
  else sendJson(res, STATUS[r.code], { error: r.code, message: r.message });
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { error: "METHOD_NOT_ALLOWED", message: `use ${allow}` }, { allow });
}

/** Path segments after /admin/users/, decoded; undefined when malformed. */
function itemPath(url: string | undefined): string[] | undefined {
  const path = (url ?? "").split("?")[0]!;
  const rest = path.slice(ADMIN_USERS_PATH.length + 1);
  try {
    return rest.split("/").map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/**
 * Handlers for startHealthServer's `routes`: POST /admin/users {name, password},
 * PUT /admin/users/:name/password {password}, DELETE /admin/users/:name, GET /admin/users.
 * Every request needs `authorization: Bearer <token>`.
 */
export function adminRoutes(admin: AccountsAdmin, token: string): Record<string, RouteHandler> {
  if (typeof token !== "string" || token.length === 0) {
    throw new RangeError("the admin token must be a non-empty string");
  }
  const authorized = tokenChecker(token);

  const guarded =
    (fn: (req: IncomingMessage, res: ServerResponse) => Promise<void>): RouteHandler =>
    (req, res) => {
      if (!authorized(req)) {
        req.resume();
        sendJson(
          res,
          401,
          { error: "UNAUTHORIZED", message: "a valid bearer token is required" },
          { "www-authenticate": "Bearer" },
        );
        return;
      }
      fn(req, res).catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: "INTERNAL", message: "the operation failed" });
        else res.destroy();
      });
    };

  const collection = guarded(async (req, res) => {
    if (req.method === "GET") {
      req.resume();
      const users = await admin.list();
      sendJson(res, 200, {
        users: users.map((u) => ({
          name: u.name,
          createdAt: u.createdAt.toISOString(),
          disabled: u.disabled,
        })),
      });
      return;
    }
    if (req.method !== "POST") {
      req.resume();
      methodNotAllowed(res, "GET, POST");
      return;
    }
    const body = await readJson(req);
    if (body instanceof HttpFailure) return sendFailure(res, body);
    const name = stringField(body, "name");
    if (name instanceof HttpFailure) return sendFailure(res, name);
    const password = stringField(body, "password");
    if (password instanceof HttpFailure) return sendFailure(res, password);
    answer(res, await admin.add(name, password), 201);
  });

  const item = guarded(async (req, res) => {
    const parts = itemPath(req.url);
    if (parts === undefined) {
      req.resume();
      return sendFailure(res, new HttpFailure(400, "BAD_PATH", "the path is not valid percent-encoding"));
    }
    if (parts.length === 1) {
      req.resume();
      if (req.method === "GET" && admin.show !== undefined) {
        const r = await admin.show(parts[0]!);
        if (r.ok) return sendJson(res, 200, r.value);
        return sendJson(res, STATUS[r.code], { error: r.code, message: r.message });
      }
      if (req.method !== "DELETE") return methodNotAllowed(res, admin.show ? "GET, DELETE" : "DELETE");
      return answer(res, await admin.remove(parts[0]!), 200);
    }
    if (parts.length === 2 && parts[1] === "password") {
      if (req.method !== "PUT") {
        req.resume();
        return methodNotAllowed(res, "PUT");
      }
      const body = await readJson(req);
      if (body instanceof HttpFailure) return sendFailure(res, body);
      const password = stringField(body, "password");
      if (password instanceof HttpFailure) return sendFailure(res, password);
      return answer(res, await admin.passwd(parts[0]!, password), 200);
    }
    req.resume();
    sendJson(res, 404, { error: "NOT_FOUND", message: "no such admin path" });
  });

  const bulk = guarded(async (req, res) => {
    if (req.method !== "POST") {
      req.resume();
      return methodNotAllowed(res, "POST");
    }
    const body = await readJson(req, ADMIN_IMPORT_MAX_BODY);
    if (body instanceof HttpFailure) return sendFailure(res, body);
    const users = body.users;
    if (!Array.isArray(users))
      return sendFailure(res, new HttpFailure(400, "BAD_BODY", '"users" must be an array'));
    const entries: ImportEntry[] = [];
    for (const u of users as unknown[]) {
      const e = u as Partial<ImportEntry> | null;
      if (
        typeof e !== "object" ||
        e === null ||
        !Number.isSafeInteger(e.line) ||
        typeof e.name !== "string" ||
        typeof e.hash !== "string"
      ) {
        return sendFailure(res, new HttpFailure(400, "BAD_BODY", "each user must be {line, name, hash}"));
      }
      entries.push({ line: e.line!, name: e.name, hash: e.hash });
    }
    const r = await admin.importHashes(entries, { skipExisting: body.skipExisting === true });
    sendJson(res, r.ok ? 200 : 409, r);
  });

  return { [ADMIN_USERS_PATH]: collection, [`${ADMIN_USERS_PATH}/*`]: item, [ADMIN_IMPORT_PATH]: bulk };
}
