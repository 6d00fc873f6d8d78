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

/** Every migration, oldest first. Append only. */
export const migrations: readonly SchemaMigration[] = [
  {
    name: "0001_accounts",
    async up(db) {
      // COLLATE "C": byte order, so ORDER BY name and keyset pagination agree
      // on every server whatever its locale (PGlite and Postgres included).
      await sql`
        CREATE TABLE accounts (
          name text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[a-z0-9._-]{1,64}$'),
          password_hash text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          disabled boolean NOT NULL DEFAULT false
        )`.execute(db);
    },
  },
];

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

// Kysely sorts a provider's names; ours are in code, so check once that the
// list order is that order and names are unique, rather than trust it.
function checkOrdered(list: readonly SchemaMigration[]): void {
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

const MIGRATION_TABLE = "kysely_migration";

async function executedNames(db: Kysely<unknown>): Promise<string[]> {
  // to_regclass: no error (which would abort an enclosing transaction) when absent.
  const exists = await sql<{ t: string | null }>`SELECT to_regclass(${MIGRATION_TABLE})::text AS t`.execute(
    db,
  );
  if (exists.rows[0]?.t == null) return [];
  const rows = await sql<{ name: string }>`SELECT name FROM ${sql.table(MIGRATION_TABLE)}`.execute(db);
  return rows.rows.map((r) => r.name);
}

/**
 * Brings the schema up to date. Safe to run at every start and from several
 * processes at once: Kysely's Migrator runs all pending migrations in one
 * transaction holding pg_advisory_xact_lock, and re-reads what is applied
 * after taking the lock, so a second runner waits and then finds nothing to do.
 */
export async function runMigrations(
  db: Kysely<unknown>,
  list: readonly SchemaMigration[] = migrations,
): Promise<MigrationReport> {
  checkOrdered(list);
  const known = new Set(list.map((m) => m.name));
  const before = await executedNames(db);
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
    migrationTableName: MIGRATION_TABLE,
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
  const after = new Set(await executedNames(db));
  const current = [...list].reverse().find((m) => after.has(m.name))?.name;
  return { applied, current, unknown: [] };
}
