import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import v8 from "node:v8";
// pg and PGlite are loaded by the open that needs them: a command on one never pays for the other.
import type { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import { StoreError } from "./errors.js";
import { type FolderLock, lockFile } from "./lockfile.js";
import { type MigrationReport, type MigrationSet, runMigrations } from "./migrations.js";
import { PGliteDialect } from "./pglite-dialect.js";

export interface StoreOptions {
  /** postgres://… (or postgresql://…): use that server through a pg Pool. Wins over dataDir. */
  databaseUrl?: string;
  /** Embedded Postgres (PGlite) kept in this folder, created if missing. Used when no databaseUrl. */
  dataDir?: string;
  /** With dataDir: how long to wait for another process (e.g. `impp user`) holding the folder. Default 0. */
  lockWaitMs?: number;
  /** With dataDir: told when the folder is held and the open waits for it. */
  onLockWait?: (holderPid: number | undefined) => void;
  /** Embedded Postgres in memory: nothing survives close (tests). */
  memory?: boolean;
  /**
   * Embedded Postgres' shared_buffers in MiB (default 16): its own page cache, resident once
   * touched. PGlite's default (128) costs ~120 MiB more; the OS page cache is behind it anyway.
   */
  sharedBuffersMb?: number;
  /** Postgres pool size (default 10). */
  poolSize?: number;
  /** Postgres connect timeout in ms (default 5000), so a dead host fails fast instead of hanging. */
  connectTimeoutMs?: number;
  /** Told when an idle pooled Postgres connection fails (server restart, failover); the pool replaces it. */
  onPoolError?: (err: Error) => void;
}

// biome-ignore lint/suspicious/noExplicitAny: the untyped view; features narrow it with tablesOf.
type AnyTables = any;

export interface Store {
  readonly kind: "postgres" | "pglite";
  /**
   * The database, typed by nobody: each feature sees it through its own table types with
   * `tablesOf<T>(store)`, and owns its tables (migrations and repositories live with the feature).
   * On PGlite there is one session: inside `db.transaction()` use only the transaction object —
   * a query on `db` there waits for the transaction to end.
   */
  readonly db: Kysely<AnyTables>;
  /** Brings one feature's schema up to date; idempotent, safe from concurrent processes. Throws StoreError. */
  migrate(set: MigrationSet): Promise<MigrationReport>;
  /** True when a trivial query succeeds (for /readyz). Never throws. */
  ping(): Promise<boolean>;
  /** Idempotent. Releases the data folder lock for PGlite. */
  close(): Promise<void>;
}

/** Inside dataDir: PGlite's own folder, and the lock that guards it. */
export const PGLITE_SUBDIR = "pglite";
export const PGLITE_LOCK_FILE = "pglite.lock";

/**
 * Opens the store: Postgres when databaseUrl is given, else PGlite in dataDir,
 * else (memory: true) PGlite in memory. Checks the database answers before
 * returning. Throws StoreError: URL_INVALID, OPTIONS_INVALID, CONNECT_FAILED,
 * DATA_DIR_LOCKED, DATA_DIR_UNUSABLE.
 */
export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.databaseUrl !== undefined && opts.databaseUrl !== "") return openPostgres(opts.databaseUrl, opts);
  if (opts.dataDir !== undefined && opts.dataDir !== "") return openPGliteDir(opts.dataDir, opts);
  if (opts.memory === true) return openPGlite(undefined, undefined, opts);
  throw new StoreError("OPTIONS_INVALID", "openStore needs databaseUrl, dataDir or memory: true");
}

/** The store's database as a feature's tables: the one place the untyped handle gets its type. */
export function tablesOf<T>(store: Pick<Store, "db">): Kysely<T> {
  return store.db as Kysely<T>;
}

function makeStore(kind: Store["kind"], db: Kysely<AnyTables>, onClose: () => Promise<void>): Store {
  let closing: Promise<void> | undefined;
  return {
    kind,
    db,
    migrate: (set) => runMigrations(db as Kysely<unknown>, set),
    async ping() {
      if (closing !== undefined) return false;
      try {
        await sql`SELECT 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    close() {
      closing ??= (async () => {
        try {
          await db.destroy();
        } finally {
          await onClose();
        }
      })();
      return closing;
    },
  };
}

/** host:port/database as user — what a log line or error may show of a URL. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || "(default)";
    const user = u.username ? ` as ${decodeURIComponent(u.username)}` : "";
    return `${u.hostname || "localhost"}:${u.port || "5432"}/${db}${user}`;
  } catch {
    return "(unparseable URL)";
  }
}

async function openPostgres(url: string, opts: StoreOptions): Promise<Store> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never echo the URL: it may carry a password.
    throw new StoreError(
      "URL_INVALID",
      "the database URL is not a valid URL (expected postgres://user:pass@host:port/db)",
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new StoreError(
      "URL_INVALID",
      `the database URL must start with postgres:// (got ${parsed.protocol}//)`,
    );
  }
  const where = describeDatabaseUrl(url);
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
  });
  // An idle client losing its server (restart, failover) is reported here;
  // without a listener it would crash the process. The pool replaces the
  // client; ping() reports the outage meanwhile.
  pool.on("error", (err) => opts.onPoolError?.(err));
  // A client that is checked out (inside a transaction, between two of its queries) when the
  // server goes away gets the error as an event, not through the pool, and an 'error' event
  // without a listener crashes the process: a Postgres restart took the services process down
  // with it (found by the kill -9 fault test). With a listener the transaction's next query fails,
  // the request is refused, and the pool drops the dead client when it comes back.
  pool.on("connect", (client) => {
    client.on("error", (err) => opts.onPoolError?.(err));
  });
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => {});
    const e = err as Error & { code?: string };
    // pg's messages name host/port/user/database at most, never the password.
    throw new StoreError(
      "CONNECT_FAILED",
      `cannot connect to Postgres at ${where}: ${e.message || e.code || String(err)}`,
      {
        cause: err,
      },
    );
  }
  const db = new Kysely<AnyTables>({ dialect: new PostgresDialect({ pool }) });
  return makeStore("postgres", db, async () => {});
}

async function openPGliteDir(dataDir: string, opts: StoreOptions): Promise<Store> {
  const dir = path.resolve(dataDir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new StoreError("DATA_DIR_UNUSABLE", `cannot create data folder ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const lock = await lockFile(path.join(dir, PGLITE_LOCK_FILE), `data folder ${dir}`, {
    waitMs: opts.lockWaitMs ?? 0,
    ...(opts.onLockWait ? { onWait: opts.onLockWait } : {}),
  });
  if (lock instanceof StoreError) throw lock;
  return openPGlite(path.join(dir, PGLITE_SUBDIR), lock, opts);
}

/** PGlite's shared_buffers when the caller names none, in MiB. */
export const DEFAULT_SHARED_BUFFERS_MB = 16;

/** What PGlite passes to its Postgres by default, plus the memory settings of this store. */
export function pgliteStartParams(defaults: readonly string[], sharedBuffersMb: number): string[] {
  return [...defaults, "-c", `shared_buffers=${sharedBuffersMb}MB`];
}

const initScript = fileURLToPath(new URL("./pglite-init.js", import.meta.url));
const run = promisify(execFile);

async function openPGlite(
  pgDir: string | undefined,
  lock: FolderLock | undefined,
  opts: StoreOptions,
): Promise<Store> {
  const sharedBuffersMb = opts.sharedBuffersMb ?? DEFAULT_SHARED_BUFFERS_MB;
  let pglite: PGlite;
  try {
    // Postgres is a 9 MiB WebAssembly module. By default V8 runs it in baseline (Liftoff) code and
    // recompiles the hot functions with TurboFan on its worker threads; those compiles leave
    // ~75 MiB in the threads' malloc arenas for good. The queries here are small: Liftoff code
    // serves them as fast (measured), and opening is quicker. Set before the module is compiled;
    // PGlite is the only WebAssembly in the process.
    v8.setFlagsFromString("--liftoff-only");
    if (pgDir !== undefined) {
      await mkdir(pgDir, { recursive: true });
      // A new folder is made by initdb — a second Postgres (module and 128 MiB memory) whose
      // garbage, freed or not, leaves the process hundreds of MiB bigger: run it in a child.
      if (!existsSync(path.join(pgDir, "PG_VERSION"))) await initInChild(pgDir, sharedBuffersMb);
    }
    const { PGlite } = await import("@electric-sql/pglite");
    const startParams = pgliteStartParams(PGlite.defaultStartParams, sharedBuffersMb);
    pglite = await PGlite.create(pgDir === undefined ? { startParams } : { dataDir: pgDir, startParams });
  } catch (err) {
    await lock?.release();
    const where = pgDir === undefined ? "in memory" : `in ${pgDir}`;
    throw new StoreError(
      "DATA_DIR_UNUSABLE",
      `cannot open the embedded database ${where}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const db = new Kysely<AnyTables>({ dialect: new PGliteDialect(pglite) });
  return makeStore("pglite", db, async () => {
    await lock?.release();
  });
}

/** Creates PGlite's database in pgDir in a child process (see pglite-init.ts). */
async function initInChild(pgDir: string, sharedBuffersMb: number): Promise<void> {
  try {
    await run(process.execPath, ["--liftoff-only", initScript, pgDir, String(sharedBuffersMb)], {
      maxBuffer: 1 << 20,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`initdb failed: ${(e.stderr ?? "").trim() || e.message}`, { cause: err });
  }
}
