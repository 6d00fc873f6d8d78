// `impp user`: accounts, whether or not the server runs. Kept light: the server's parts, the
// embedded database and the hashing library are loaded only on the path that needs them, so a
// command against a running server costs a Node start and one loopback HTTP request.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import net from "node:net";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type {
  AccountSummary,
  AccountsAdmin,
  AdminErrorCode,
  AdminResult,
  ImportEntry,
  ImportResult,
  UserDetails,
} from "@impp/auth/admin";
import { ConfigError, loadConfig } from "@impp/config";
import { ADMIN_FILE, type AdminEndpoint } from "../admin-endpoint.js";

export const userHelp = `impp user — manage accounts

  impp user add <name> [--password <pw>]      create an account
  impp user passwd <name> [--password <pw>]   set a new password
  impp user remove <name>                     delete an account
  impp user list                              list accounts
  impp user show <name>                       an account's contacts, pending requests,
                                              allow and block lists, and presence
  impp user import <file> [--skip-existing]   create many accounts from a CSV file
                                              (- reads standard input)

Without --password the password is read from standard input (first line).

import: one account a line, "name,password" or "name,hash" where hash is an
argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash, m ≤ 262144,
t ≤ 16, p ≤ 16), e.g. from another server. Everything after the first comma is
the password, commas included. Blank lines, lines starting with # and a
header line "name,password" or "name,hash" are skipped. Passwords are hashed
here, several at a time (one per CPU core), before anything is written; only
hashes reach the database or the server. All or nothing: if any line is wrong
(a bad name, an empty or over-long password, a malformed hash, a name twice,
an account that exists) every such line is reported with its number and no
account is created. --skip-existing leaves existing accounts as they are
instead (their lines are listed) and imports the rest.

show: presence comes from the running embedded server, or from Redis when
IMPP_REDIS_URL is set; otherwise it is reported as unknown.

Works on PostgreSQL (IMPP_DATABASE_URL) or the embedded database in
IMPP_DATA_DIR, whether or not the server is running: a running embedded server
holds its database, so the command then goes through the server's loopback-only
admin endpoint and the change takes effect at once.`;

/** PGLITE_SUBDIR of @impp/store, written out so `list` need not load the embedded database to check for it. */
export const EMBEDDED_DB_SUBDIR = "pglite";

export class UserCommandError extends Error {
  override readonly name = "UserCommandError";
  constructor(
    readonly kind: "USAGE" | "CONFIG" | "SERVER_UNREACHABLE" | "FAILED",
    message: string,
  ) {
    super(message);
  }
}

interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** What every path offers: the accounts admin, show, and the import of ready hashes. */
type Admin = AccountsAdmin & { show(name: string): Promise<AdminResult<UserDetails>> };

export async function user(args: string[], io: Partial<Io> = {}): Promise<number> {
  const { out, err } = { out: process.stdout, err: process.stderr, ...io };
  try {
    return await run(args, { out, err, stdin: io.stdin ?? process.stdin, env: io.env ?? process.env });
  } catch (e) {
    if (e instanceof UserCommandError) {
      err.write(`impp user: ${e.message}\n`);
      return e.kind === "USAGE" ? 2 : 1;
    }
    err.write(`impp user: ${(e as Error).message}\n`);
    return 1;
  }
}

const VERBS = new Set(["add", "passwd", "remove", "list", "show", "import"]);

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      password: { type: "string" },
      "skip-existing": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  const [verb, name, ...extra] = positionals;
  if (values.help || verb === undefined || verb === "help") {
    io.out.write(`${userHelp}\n`);
    return verb === undefined && !values.help ? 2 : 0;
  }
  if (!VERBS.has(verb))
    throw new UserCommandError("USAGE", `unknown subcommand "${verb}" (see impp user --help)`);
  const needsName = verb !== "list";
  if (needsName && name === undefined)
    throw new UserCommandError(
      "USAGE",
      `impp user ${verb} needs ${verb === "import" ? "a file (or -)" : "an account name"}`,
    );
  if (extra.length > 0 || (!needsName && name !== undefined))
    throw new UserCommandError("USAGE", "too many arguments");

  const config = loadConfig(io.env);
  if (config instanceof ConfigError)
    throw new UserCommandError("CONFIG", `invalid configuration\n${config.message}`);

  // `list` on a fresh folder should not create a database just to say it is empty.
  if (verb === "list" && !config.databaseUrl && !existsSync(path.join(config.dataDir, EMBEDDED_DB_SUBDIR))) {
    io.out.write(`no accounts (no embedded database in ${config.dataDir} yet)\n`);
    return 0;
  }

  const needsPassword = verb === "add" || verb === "passwd";
  const password = needsPassword ? (values.password ?? (await readPassword(io))) : undefined;
  // An import is read, checked and hashed before the database is touched (or the server asked).
  const entries = verb === "import" ? await prepareImport(name!, io, config.domain) : undefined;
  if (entries instanceof ImportFailed) return entries.report(io);

  const { admin, close } = await openAdmin(config, verb === "show");
  try {
    switch (verb) {
      case "add":
        return report(io, await admin.add(name!, password!), (n) => `added ${n}`);
      case "passwd":
        return report(io, await admin.passwd(name!, password!), (n) => `password of ${n} changed`);
      case "remove":
        return report(io, await admin.remove(name!), (n) => `removed ${n}`);
      case "show": {
        const r = await admin.show(name!);
        if (!r.ok) return report(io, r, () => "");
        const { renderUserDetails } = await import("../user-details-render.js");
        io.out.write(renderUserDetails(r.value));
        return 0;
      }
      case "import":
        return reportImport(
          io,
          await admin.importHashes(entries!, { skipExisting: values["skip-existing"] === true }),
        );
      default: {
        const users = await admin.list();
        for (const u of users)
          io.out.write(`${u.name}${u.disabled ? " (disabled)" : ""}\t${u.createdAt.toISOString()}\n`);
        if (users.length === 0) io.out.write("no accounts\n");
        return 0;
      }
    }
  } finally {
    await close();
  }
}

function report<T>(io: Io, r: AdminResult<T>, ok: (value: T) => string): number {
  if (r.ok) {
    io.out.write(`${ok(r.value)}\n`);
    return 0;
  }
  io.err.write(`impp user: ${r.message} (${r.code})\n`);
  return 1;
}

function reportImport(io: Io, r: ImportResult): number {
  if (r.ok) {
    io.out.write(`imported ${r.added} account${r.added === 1 ? "" : "s"}\n`);
    if (r.skipped.length > 0) io.out.write(`left alone (they exist): ${r.skipped.join(", ")}\n`);
    return 0;
  }
  return new ImportFailed(r.problems).report(io);
}

class ImportFailed {
  constructor(readonly problems: ReadonlyArray<{ line: number; code: string; message: string }>) {}
  report(io: Io): number {
    for (const p of this.problems) io.err.write(`line ${p.line}: ${p.message} (${p.code})\n`);
    io.err.write(
      `impp user: nothing imported: ${this.problems.length} line${this.problems.length === 1 ? "" : "s"} to fix\n`,
    );
    return 1;
  }
}

async function readPassword(io: Io): Promise<string> {
  if (io.stdin.isTTY) io.err.write("password: ");
  let data = "";
  for await (const chunk of io.stdin) {
    data += chunk.toString();
    if (data.includes("\n")) break;
  }
  const line = data.split(/\r?\n/)[0] ?? "";
  if (line.length === 0)
    throw new UserCommandError("USAGE", "no password given (use --password or standard input)");
  return line;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** Parsed CSV lines: a password to hash, or a hash as given. */
export interface CsvLine {
  line: number;
  name: string;
  password?: string;
  hash?: string;
}

/**
 * "name,password" or "name,hash" lines; everything after the first comma is the secret. Skips blank
 * lines, # comments and a header. Problems are per line; the caller decides what they mean.
 */
export function parseUserCsv(text: string): {
  lines: CsvLine[];
  problems: Array<{ line: number; code: string; message: string }>;
} {
  const lines: CsvLine[] = [];
  const problems: Array<{ line: number; code: string; message: string }> = [];
  const all = text.replace(/^\uFEFF/, "").split("\n");
  for (let i = 0; i < all.length; i++) {
    const raw = all[i]!.replace(/\r$/, "");
    const line = i + 1;
    if (raw.trim() === "" || raw.trimStart().startsWith("#")) continue;
    if (lines.length === 0 && problems.length === 0 && /^\s*name\s*,\s*(password|hash)\s*$/i.test(raw))
      continue;
    const comma = raw.indexOf(",");
    if (comma < 0) {
      problems.push({ line, code: "FORMAT", message: "expected name,password or name,hash" });
      continue;
    }
    const name = raw.slice(0, comma).trim();
    const secret = raw.slice(comma + 1);
    if (secret.startsWith("$argon2")) lines.push({ line, name, hash: secret.trim() });
    else lines.push({ line, name, password: secret });
  }
  return { lines, problems };
}

/** Reads, checks and hashes an import; the entries to send, or every problem found. */
async function prepareImport(file: string, io: Io, domain: string): Promise<ImportEntry[] | ImportFailed> {
  let text: string;
  try {
    text = file === "-" ? await readAll(io.stdin) : await readFile(file, "utf8");
  } catch (e) {
    throw new UserCommandError("FAILED", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const { lines, problems } = parseUserCsv(text);
  const [{ isArgon2idHash, hashPassword, MAX_PASSWORD_BYTES }, { normalizeAddress }] = await Promise.all([
    import("@impp/auth/admin"),
    import("@impp/protocol"),
  ]);
  const first = new Map<string, number>();
  for (const l of lines) {
    const n = normalizeAddress(l.name, domain);
    if (n === undefined) {
      problems.push({
        line: l.line,
        code: "NAME_INVALID",
        message: `${JSON.stringify(l.name)} is not an account name (1–64 characters of a-z 0-9 . _ -)`,
      });
    } else if (first.has(n)) {
      problems.push({ line: l.line, code: "DUPLICATE", message: `${n} is already on line ${first.get(n)}` });
    } else first.set(n, l.line);
    if (l.hash !== undefined && !isArgon2idHash(l.hash)) {
      problems.push({
        line: l.line,
        code: "HASH_INVALID",
        message: "not an argon2id PHC string with m ≤ 262144, t ≤ 16, p ≤ 16",
      });
    }
    if (l.password !== undefined && l.password.length === 0)
      problems.push({ line: l.line, code: "PASSWORD_INVALID", message: "the password is empty" });
    if (l.password !== undefined && Buffer.byteLength(l.password) > MAX_PASSWORD_BYTES)
      problems.push({
        line: l.line,
        code: "PASSWORD_INVALID",
        message: `the password is over ${MAX_PASSWORD_BYTES} bytes`,
      });
  }
  if (lines.length === 0 && problems.length === 0)
    problems.push({
      line: 0,
      code: "EMPTY",
      message: `${file === "-" ? "standard input" : file} holds no accounts`,
    });
  if (problems.length > 0) return new ImportFailed(problems.sort((a, b) => a.line - b.line));
  // argon2id is ≈ 19 MiB and tens of ms a hash: as many at once as there are cores, no more.
  const toHash = lines.filter((l) => l.password !== undefined);
  const hashes = await mapBounded(toHash, Math.max(1, availableParallelism()), (l) =>
    hashPassword(l.password!),
  );
  toHash.forEach((l, i) => {
    l.hash = hashes[i]!;
  });
  return lines.map((l) => ({ line: l.line, name: l.name, hash: l.hash! }));
}

/** `fn` over `items` with at most `limit` running at once, results in order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type Conf = {
  databaseUrl?: string;
  dataDir: string;
  pgliteSharedBuffersMb?: number;
  domain: string;
  redisUrl?: string;
  redisPrefix: string;
  redisCaFile?: string;
};

/**
 * A running embedded server's endpoint when one answers there; else the database itself (the
 * embedded one, locked while we use it, or Postgres).
 */
async function openAdmin(
  config: Conf,
  forShow: boolean,
): Promise<{ admin: Admin; close: () => Promise<void> }> {
  if (!config.databaseUrl) {
    const endpoint = await liveEndpoint(config.dataDir);
    if (endpoint !== undefined)
      return { admin: remoteAdminAt(endpoint, config.dataDir), close: async () => {} };
  }
  const [{ isStoreError, openStore }, { accountsMigrations, createAccountsAdmin }] = await Promise.all([
    import("@impp/store"),
    import("@impp/auth/admin"),
  ]);
  let store: import("@impp/store").Store;
  try {
    store = config.databaseUrl
      ? await openStore({ databaseUrl: config.databaseUrl })
      : await openStore({ dataDir: config.dataDir, sharedBuffersMb: config.pgliteSharedBuffersMb });
  } catch (e) {
    // A server is starting (it holds the folder but has not written its endpoint yet), or died.
    if (isStoreError(e, "DATA_DIR_LOCKED"))
      return { admin: await remoteAdmin(config.dataDir), close: async () => {} };
    throw e;
  }
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  try {
    // Only the tables these commands touch; `impp serve` and `impp migrate` bring the rest.
    await store.migrate(accountsMigrations);
    let show: Admin["show"] = async () => ({
      ok: false,
      code: "NOT_FOUND",
      message: "show is not available here",
    });
    if (forShow) {
      const [{ rosterMigrations }, { userDetails }] = await Promise.all([
        import("@impp/roster"),
        import("../user-details.js"),
      ]);
      await store.migrate(rosterMigrations);
      let live: import("../user-details.js").PresenceSource = {
        unavailable: "no server is running; the embedded live state is in the server's memory",
      };
      if (config.redisUrl) {
        const { connectRedisSessionStore } = await import("@impp/sessions");
        try {
          const sessions = await connectRedisSessionStore({
            url: config.redisUrl,
            keyPrefix: config.redisPrefix,
            ...(config.redisCaFile ? { tlsCaFile: config.redisCaFile } : {}),
          });
          closers.push(() => sessions.close());
          live = sessions;
        } catch (e) {
          live = { unavailable: (e as Error).message };
        }
      }
      show = (name) => userDetails(store, live, name, config.domain);
    }
    return { admin: { ...createAccountsAdmin(store, { domain: config.domain }), show }, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The endpoint recorded in the data folder, if something listens there (a crashed server leaves the file). */
async function liveEndpoint(dataDir: string): Promise<AdminEndpoint | undefined> {
  let endpoint: AdminEndpoint;
  try {
    endpoint = JSON.parse(await readFile(path.join(dataDir, ADMIN_FILE), "utf8")) as AdminEndpoint;
  } catch {
    return undefined;
  }
  const u = new URL(endpoint.url);
  const listening = await new Promise<boolean>((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  return listening ? endpoint : undefined;
}

/** What the admin endpoint answers (services/auth admin-http.ts). */
interface AdminReply {
  name?: string;
  error?: string;
  message?: string;
  users?: Array<{ name: string; createdAt: string; disabled: boolean }>;
}

/** The running embedded server's admin endpoint, as an AccountsAdmin. */
export async function remoteAdmin(dataDir: string): Promise<Admin> {
  let endpoint: AdminEndpoint;
  try {
    endpoint = JSON.parse(await readFile(path.join(dataDir, ADMIN_FILE), "utf8")) as AdminEndpoint;
  } catch {
    throw new UserCommandError(
      "SERVER_UNREACHABLE",
      `the embedded database in ${dataDir} is in use, but no running server's admin endpoint is recorded there`,
    );
  }
  return remoteAdminAt(endpoint, dataDir);
}

function remoteAdminAt(endpoint: AdminEndpoint, dataDir: string): Admin {
  type Reply = { status: number; json: unknown };
  // node:http rather than fetch: fetch loads undici, a good part of this command's run time.
  const call = (method: string, p: string, body?: unknown): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = httpRequest(
        `${endpoint.url}${p}`,
        {
          method,
          headers: {
            authorization: `Bearer ${endpoint.token}`,
            ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            let json: unknown = {};
            try {
              json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {}
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on("error", (e) =>
        reject(
          new UserCommandError(
            "SERVER_UNREACHABLE",
            `the server holding ${dataDir} (pid ${endpoint.pid}) did not answer at ${endpoint.url}: ${e.message}`,
          ),
        ),
      );
      req.end(payload);
    });
  const failure = (status: number, json: AdminReply) => ({
    ok: false as const,
    code: (json.error ?? "FAILED") as AdminErrorCode,
    message: json.message ?? `HTTP ${status}`,
  });
  const result = ({ status, json }: Reply): AdminResult<string> =>
    status < 300
      ? { ok: true, value: String((json as AdminReply).name) }
      : failure(status, json as AdminReply);
  const users = "/admin/users";
  return {
    add: async (name, password) => result(await call("POST", users, { name, password })),
    passwd: async (name, password) =>
      result(await call("PUT", `${users}/${encodeURIComponent(name)}/password`, { password })),
    remove: async (name) => result(await call("DELETE", `${users}/${encodeURIComponent(name)}`)),
    list: async (): Promise<AccountSummary[]> => {
      const { status, json } = await call("GET", users);
      const j = json as AdminReply;
      if (status >= 300) throw new UserCommandError("FAILED", j.message ?? `HTTP ${status}`);
      return (j.users ?? []).map((u) => ({
        name: u.name,
        createdAt: new Date(u.createdAt),
        disabled: u.disabled,
      }));
    },
    show: async (name) => {
      const { status, json } = await call("GET", `${users}/${encodeURIComponent(name)}`);
      return status < 300 ? { ok: true, value: json as UserDetails } : failure(status, json as AdminReply);
    },
    importHashes: async (entries, opts = {}) => {
      const { status, json } = await call("POST", "/admin/import", {
        users: entries,
        skipExisting: opts.skipExisting === true,
      });
      if (status === 200 || status === 409) return json as ImportResult;
      throw new UserCommandError("FAILED", (json as AdminReply).message ?? `HTTP ${status}`);
    },
  };
}
