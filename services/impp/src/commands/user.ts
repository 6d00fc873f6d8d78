import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  type AccountSummary,
  type AccountsAdmin,
  type AdminErrorCode,
  type AdminResult,
  createAccountsAdmin,
} from "@impp/auth";
import { ConfigError, loadConfig } from "@impp/config";
import { isStoreError, openStore, PGLITE_SUBDIR, type Store } from "@impp/store";
import { ADMIN_FILE, type AdminEndpoint, migrateModules } from "../runtime.js";

export const userHelp = `impp user — manage accounts

  impp user add <name> [--password <pw>]      create an account
  impp user passwd <name> [--password <pw>]   set a new password
  impp user remove <name>                     delete an account
  impp user list                              list accounts

Without --password the password is read from standard input (first line).
Works on PostgreSQL (IMPP_DATABASE_URL) or the embedded database in
IMPP_DATA_DIR, whether or not the server is running: a running embedded server
holds its database, so the command then goes through the server's loopback-only
admin endpoint and the change takes effect at once.`;

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

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { password: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  const [verb, name, ...extra] = positionals;
  if (values.help || verb === undefined || verb === "help") {
    io.out.write(`${userHelp}\n`);
    return verb === undefined && !values.help ? 2 : 0;
  }
  const needsName = verb === "add" || verb === "passwd" || verb === "remove";
  if (!needsName && verb !== "list")
    throw new UserCommandError("USAGE", `unknown subcommand "${verb}" (see impp user --help)`);
  if (needsName && name === undefined)
    throw new UserCommandError("USAGE", `impp user ${verb} needs an account name`);
  if (extra.length > 0 || (!needsName && name !== undefined))
    throw new UserCommandError("USAGE", "too many arguments");

  const config = loadConfig(io.env);
  if (config instanceof ConfigError)
    throw new UserCommandError("CONFIG", `invalid configuration\n${config.message}`);

  // `list` on a fresh folder should not create a database just to say it is empty.
  if (verb === "list" && !config.databaseUrl && !existsSync(path.join(config.dataDir, PGLITE_SUBDIR))) {
    io.out.write(`no accounts (no embedded database in ${config.dataDir} yet)\n`);
    return 0;
  }

  const needsPassword = verb === "add" || verb === "passwd";
  const password = needsPassword ? (values.password ?? (await readPassword(io))) : undefined;

  const { admin, close } = await openAdmin(config.databaseUrl, config.dataDir, config.domain);
  try {
    switch (verb) {
      case "add":
        return report(io, await admin.add(name!, password!), (n) => `added ${n}`);
      case "passwd":
        return report(io, await admin.passwd(name!, password!), (n) => `password of ${n} changed`);
      case "remove":
        return report(io, await admin.remove(name!), (n) => `removed ${n}`);
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

function report(io: Io, r: AdminResult<string>, ok: (name: string) => string): number {
  if (r.ok) {
    io.out.write(`${ok(r.value)}\n`);
    return 0;
  }
  io.err.write(`impp user: ${r.message} (${r.code})\n`);
  return 1;
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

async function openAdmin(
  databaseUrl: string | undefined,
  dataDir: string,
  domain: string,
): Promise<{ admin: AccountsAdmin; close: () => Promise<void> }> {
  let store: Store;
  try {
    store = databaseUrl ? await openStore({ databaseUrl }) : await openStore({ dataDir });
  } catch (e) {
    if (isStoreError(e, "DATA_DIR_LOCKED"))
      return { admin: await remoteAdmin(dataDir), close: async () => {} };
    throw e;
  }
  try {
    await migrateModules(store);
  } catch (e) {
    await store.close();
    throw e;
  }
  return { admin: createAccountsAdmin(store, { domain }), close: () => store.close() };
}

/** What the admin endpoint answers (services/auth admin-http.ts). */
interface AdminReply {
  name?: string;
  error?: string;
  message?: string;
  users?: Array<{ name: string; createdAt: string; disabled: boolean }>;
}

/** The running embedded server's admin endpoint, as an AccountsAdmin. */
export async function remoteAdmin(dataDir: string): Promise<AccountsAdmin> {
  let endpoint: AdminEndpoint;
  try {
    endpoint = JSON.parse(await readFile(path.join(dataDir, ADMIN_FILE), "utf8")) as AdminEndpoint;
  } catch {
    throw new UserCommandError(
      "SERVER_UNREACHABLE",
      `the embedded database in ${dataDir} is in use, but no running server's admin endpoint is recorded there`,
    );
  }
  type Reply = { status: number; json: AdminReply };
  const call = async (method: string, p: string, body?: unknown): Promise<Reply> => {
    let res: Response;
    try {
      res = await fetch(`${endpoint.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${endpoint.token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new UserCommandError(
        "SERVER_UNREACHABLE",
        `the server holding ${dataDir} (pid ${endpoint.pid}) did not answer at ${endpoint.url}: ${(e as Error).message}`,
      );
    }
    return { status: res.status, json: (await res.json().catch(() => ({}))) as AdminReply };
  };
  const result = ({ status, json }: Reply): AdminResult<string> =>
    status < 300
      ? { ok: true, value: String(json.name) }
      : {
          ok: false,
          code: (json.error ?? "FAILED") as AdminErrorCode,
          message: json.message ?? `HTTP ${status}`,
        };
  const users = "/admin/users";
  return {
    add: async (name, password) => result(await call("POST", users, { name, password })),
    passwd: async (name, password) =>
      result(await call("PUT", `${users}/${encodeURIComponent(name)}/password`, { password })),
    remove: async (name) => result(await call("DELETE", `${users}/${encodeURIComponent(name)}`)),
    list: async (): Promise<AccountSummary[]> => {
      const { status, json } = await call("GET", users);
      if (status >= 300) throw new UserCommandError("FAILED", json.message ?? `HTTP ${status}`);
      return (json.users ?? []).map((u) => ({
        name: u.name,
        createdAt: new Date(u.createdAt),
        disabled: u.disabled,
      }));
    },
  };
}
