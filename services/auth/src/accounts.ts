// The accounts: auth owns the table, its migrations and its repository (other features refer to
// accounts by name, with foreign keys to accounts(name) ON DELETE CASCADE).
import { isCanonicalAccountName, normalizeAddress } from "@impp/protocol";
import { type MigrationSet, type Store, StoreError, tablesOf } from "@impp/store";
import { type ColumnType, type Generated, type Kysely, type Selectable, sql } from "kysely";

export interface AccountsTable {
  /** Canonical: lower-case, 1–64 of a-z 0-9 . _ - (a CHECK constraint enforces it). */
  name: string;
  /** An encoded hash (argon2id PHC string); the store never sees a password. */
  password_hash: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  disabled: Generated<boolean>;
}

export interface AccountsTables {
  accounts: AccountsTable;
}

/**
 * Recorded in "kysely_migration", the table every migration went to before each feature had its
 * own: databases made then already list 0001_accounts there.
 */
export const accountsMigrations: MigrationSet = {
  table: "kysely_migration",
  list: [
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
  ],
};

export interface Account {
  /** Canonical, lower-case. */
  readonly name: string;
  readonly passwordHash: string;
  readonly createdAt: Date;
  readonly disabled: boolean;
}

export interface ListOptions {
  /** Page size: 1–1000, default 100. */
  readonly limit?: number;
  /** Keyset cursor: return names strictly after this one (the last name of the previous page). */
  readonly after?: string;
}

export interface AccountsRepository {
  /** name must be canonical (see normalizeAddress) or ACCOUNT_NAME_INVALID is returned. */
  create(name: string, passwordHash: string): Promise<Account | StoreError>;
  /** Case-insensitive; undefined for an unknown or malformed name. No "@domain" here: normalize first. */
  find(name: string): Promise<Account | undefined>;
  /** false when no such account. */
  setPasswordHash(name: string, hash: string): Promise<boolean>;
  /** false when no such account. */
  setDisabled(name: string, disabled: boolean): Promise<boolean>;
  /** false when no such account. */
  remove(name: string): Promise<boolean>;
  /** Ordered by name (byte order). */
  list(opts?: ListOptions): Promise<Account[]>;
  count(): Promise<number>;
}

export const LIST_LIMIT_DEFAULT = 100;
export const LIST_LIMIT_MAX = 1000;

function toAccount(row: Selectable<AccountsTable>): Account {
  return {
    name: row.name,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    disabled: row.disabled,
  };
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return LIST_LIMIT_DEFAULT;
  return Math.min(LIST_LIMIT_MAX, Math.max(1, Math.trunc(limit)));
}

export function createAccountsRepository(store: Pick<Store, "db">): AccountsRepository {
  const db: Kysely<AccountsTables> = tablesOf<AccountsTables>(store);
  return {
    async create(name, passwordHash) {
      if (!isCanonicalAccountName(name)) {
        return new StoreError(
          "ACCOUNT_NAME_INVALID",
          `not a canonical account name: ${JSON.stringify(name)}`,
        );
      }
      // ON CONFLICT DO NOTHING: a duplicate is an answer, not an exception,
      // and does not abort an enclosing transaction.
      const row = await db
        .insertInto("accounts")
        .values({ name, password_hash: passwordHash })
        .onConflict((oc) => oc.column("name").doNothing())
        .returningAll()
        .executeTakeFirst();
      return row === undefined
        ? new StoreError("ACCOUNT_EXISTS", `account ${name} already exists`)
        : toAccount(row);
    },

    async find(name) {
      const canonical = normalizeAddress(name);
      if (canonical === undefined) return undefined;
      const row = await db
        .selectFrom("accounts")
        .selectAll()
        .where("name", "=", canonical)
        .executeTakeFirst();
      return row === undefined ? undefined : toAccount(row);
    },

    async setPasswordHash(name, hash) {
      const canonical = normalizeAddress(name);
      if (canonical === undefined) return false;
      const r = await db
        .updateTable("accounts")
        .set({ password_hash: hash })
        .where("name", "=", canonical)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },

    async setDisabled(name, disabled) {
      const canonical = normalizeAddress(name);
      if (canonical === undefined) return false;
      const r = await db
        .updateTable("accounts")
        .set({ disabled })
        .where("name", "=", canonical)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },

    async remove(name) {
      const canonical = normalizeAddress(name);
      if (canonical === undefined) return false;
      const r = await db.deleteFrom("accounts").where("name", "=", canonical).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },

    async list(opts = {}) {
      let q = db.selectFrom("accounts").selectAll().orderBy("name").limit(clampLimit(opts.limit));
      if (opts.after !== undefined) q = q.where("name", ">", opts.after);
      return (await q.execute()).map(toAccount);
    },

    async count() {
      // count(*) is bigint: pg returns it as a string, PGlite as a number.
      const row = await db
        .selectFrom("accounts")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
