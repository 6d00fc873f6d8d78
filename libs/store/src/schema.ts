import type { ColumnType, Generated } from "kysely";

/**
 * The tables as Kysely sees them. Each table is added here in the same change
 * as the migration that creates it (migrations.ts).
 */
export interface Database {
  accounts: AccountsTable;
}

export interface AccountsTable {
  /** Canonical: lower-case, 1–64 of a-z 0-9 . _ - (a CHECK constraint enforces it). */
  name: string;
  /** An encoded hash (argon2id PHC string); the store never sees a password. */
  password_hash: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  disabled: Generated<boolean>;
}
