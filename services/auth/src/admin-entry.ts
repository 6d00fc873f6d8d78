// @impp/auth/admin — what `impp user` needs to manage accounts directly, without loading the
// authentication service (service-kit, telemetry, the bus): accounts, their migrations, hashing.
export { accountsMigrations, createAccountsRepository } from "./accounts.js";
export {
  type AccountSummary,
  type AccountsAdmin,
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
export { hashPassword, MAX_PASSWORD_BYTES } from "./passwords.js";
