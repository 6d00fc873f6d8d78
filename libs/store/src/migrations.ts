import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import { StoreError } from "./errors.js";

/**
 * One schema change. Written as raw SQL, one statement per call, so that a
 * migration's meaning never shifts with the query builder's version: once a
 * migration has shipped it is frozen; change the schema by appending another.
 */
export interface SchemaMigration {
  /** Unique and sorting after every earlier one: "NNNN_what". */
  readonly name: string;
  up(db: Kysely<unknown>): Promise<void>;
}

/**
 * One feature's migrations: its own list, recorded in its own table, so each feature owns its schema
 * (Prosody's module:open_store) and a process migrates only what the features it knows need.
 */
export interface MigrationSet {
  /** Table recording what ran (and `<table>_lock` for Kysely's lock row). */
  readonly table: string;
  /** Oldest first. Append only: a shipped migration is frozen. */
  readonly list: readonly SchemaMigration[];
}

export interface MigrationReport {
  /** Migrations this call applied, in order (empty when already up to date). */
  readonly applied: readonly string[];
  /** The newest migration this code knows that the database now has. */
  readonly current: string | undefined;
  /**
   * Migrations recorded in the database that this code does not know: a newer
   * version migrated it. Tolerated when every known migration is applied,
   * because migrations only add — an older replica keeps working during a
   * rolling upgrade.
   */
  readonly unknown: readonly string[];
}

const TABLE_NAME = /^[a-z][a-z0-9_]{0,50}$/;
const MIGRATION_NAME = /^\d{4}_[a-z0-9_]+$/;

/**
 * Kysely sorts a provider's names; ours are in code, so check once that the list order is that
 * order, names are unique and of the form NNNN_what, and the table name is a plain identifier.
 * Throws an Error naming the problem (a programming error, found at registration or first use).
 */
export function checkMigrationSet(set: MigrationSet): void {
  const { table, list } = set;
  if (!TABLE_NAME.test(table))
    throw new Error(`migration table "${table}" is not a plain lower-case identifier`);
  for (const m of list) {
    if (!MIGRATION_NAME.test(m.name))
      throw new Error(`migration "${m.name}" (table ${table}) is not named NNNN_what`);
  }
  for (let i = 1; i < list.length; i++) {
    const prev = list[i - 1]!.name;
    const cur = list[i]!.name;
    if (!(prev < cur)) throw new Error(`migrations out of order: "${cur}" must sort after "${prev}"`);
  }
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly list: readonly SchemaMigration[]) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const m of this.list) out[m.name] = { up: (db) => m.up(db) };
    return out;
  }
}

async function executedNames(db: Kysely<unknown>, table: string): Promise<string[]> {
  // to_regclass: no error (which would abort an enclosing transaction) when absent.
  const exists = await sql<{ t: string | null }>`SELECT to_regclass(${table})::text AS t`.execute(db);
  if (exists.rows[0]?.t == null) return [];
  const rows = await sql<{ name: string }>`SELECT name FROM ${sql.table(table)}`.execute(db);
  return rows.rows.map((r) => r.name);
}

/**
 * Brings the schema up to date. Safe to run at every start and from several
 * processes at once: Kysely's Migrator runs all pending migrations in one
 * transaction holding pg_advisory_xact_lock, and re-reads what is applied
 * after taking the lock, so a second runner waits and then finds nothing to do.
 */
export async function runMigrations(db: Kysely<unknown>, set: MigrationSet): Promise<MigrationReport> {
  const { table, list } = set;
  checkMigrationSet(set);
  const known = new Set(list.map((m) => m.name));
  const before = await executedNames(db, table);
  const unknown = before.filter((n) => !known.has(n)).sort();
  if (unknown.length > 0) {
    const applied = new Set(before);
    const missing = list.filter((m) => !applied.has(m.name));
    if (missing.length > 0) {
      throw new StoreError(
        "SCHEMA_TOO_NEW",
        `the database has migrations this version does not know (${unknown.join(", ")}) ` +
          `and lacks ones it needs (${missing.map((m) => m.name).join(", ")}); run the newer version`,
      );
    }
    return { applied: [], current: list.at(-1)?.name, unknown };
  }

  const migrator = new Migrator({
    db,
    provider: new StaticProvider(list),
    migrationTableName: table,
    migrationLockTableName: `${table}_lock`,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    const why = error instanceof Error ? error.message : String(error);
    throw new StoreError(
      "MIGRATION_FAILED",
      failed === undefined ? `migration failed: ${why}` : `migration ${failed} failed: ${why}`,
      { cause: error },
    );
  }
  const applied = (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
  const after = new Set(await executedNames(db, table));
  const current = [...list].reverse().find((m) => after.has(m.name))?.name;
  return { applied, current, unknown: [] };
}
