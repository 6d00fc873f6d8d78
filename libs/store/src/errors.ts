export type StoreErrorKind =
  /** The database URL cannot be parsed or is not postgres://. */
  | "URL_INVALID"
  /** Options contradict each other or name nothing to open. */
  | "OPTIONS_INVALID"
  /** Postgres could not be reached or refused us; the message names host, port, database and user — never the password. */
  | "CONNECT_FAILED"
  /** Another live process (usually the running server) holds the embedded data folder. */
  | "DATA_DIR_LOCKED"
  /** The data folder cannot be created, written or opened as a database. */
  | "DATA_DIR_UNUSABLE"
  /** A migration failed; the transaction was rolled back. */
  | "MIGRATION_FAILED"
  /** The database was migrated by a newer version whose schema this one does not know how to finish. */
  | "SCHEMA_TOO_NEW"
  | "ACCOUNT_EXISTS"
  /** The name is not a valid canonical account name (see normalizeAccountName). */
  | "ACCOUNT_NAME_INVALID";

/**
 * Every failure the store reports by name. Extends Error so that a thrown one
 * (openStore, migrate) carries a stack; repository methods return it as a value
 * for outcomes callers are expected to handle (ACCOUNT_EXISTS).
 */
export class StoreError extends Error {
  readonly kind: StoreErrorKind;

  constructor(kind: StoreErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
    this.kind = kind;
  }
}

export function isStoreError(value: unknown, kind?: StoreErrorKind): value is StoreError {
  return value instanceof StoreError && (kind === undefined || value.kind === kind);
}
