// @impp/auth — STREAM AUTHENTICATE, the accounts (table, migrations, repository), account
// administration, login rate limits.
export {
  type Account,
  type AccountsRepository,
  type AccountsTables,
  accountsMigrations,
  createAccountsRepository,
  LIST_LIMIT_DEFAULT,
  LIST_LIMIT_MAX,
  type ListOptions,
} from "./accounts.js";
export {
  type AccountSummary,
  type AccountsAdmin,
  type AccountsAdminOptions,
  type AdminErrorCode,
  type AdminResult,
  createAccountsAdmin,
  type ImportEntry,
  type ImportErrorCode,
  type ImportProblem,
  type ImportResult,
  isArgon2idHash,
  type UserDetails,
} from "./admin.js";
export {
  ADMIN_IMPORT_MAX_BODY,
  ADMIN_IMPORT_PATH,
  ADMIN_MAX_BODY,
  ADMIN_USERS_PATH,
  adminRoutes,
} from "./admin-http.js";
export {
  type AuthenticateDeps,
  type AuthOutcome,
  type AuthResult,
  authenticate,
  authenticateShape,
  rateKeys,
} from "./authenticate.js";
export { AttemptGate } from "./gate.js";
export { type AuthState, authModule, streamRoutes } from "./module.js";
export { hashPassword, MAX_PASSWORD_BYTES, verifyPassword } from "./passwords.js";
