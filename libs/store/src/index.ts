// @impp/store — durable state's plumbing: opening Postgres or embedded PGlite, per-feature migration
// sets, errors. Tables, migrations and repositories belong to the feature that owns them (the
// accounts to auth, the lists to the roster, …); the contract suite is at "@impp/store/contract".
export type { StoreErrorKind } from "./errors.js";
export { isStoreError, StoreError } from "./errors.js";
export type { MigrationReport, MigrationSet, SchemaMigration } from "./migrations.js";
export { checkMigrationSet, runMigrations } from "./migrations.js";
export { PGliteDialect } from "./pglite-dialect.js";
export type { Store, StoreOptions } from "./store.js";
export { describeDatabaseUrl, openStore, PGLITE_LOCK_FILE, PGLITE_SUBDIR, tablesOf } from "./store.js";
