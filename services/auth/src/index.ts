// @impp/auth — STREAM AUTHENTICATE, account administration, login rate limits.
export {
  type AccountSummary,
  type AccountsAdmin,
  type AccountsAdminOptions,
  type AdminErrorCode,
  type AdminResult,
  createAccountsAdmin,
} from "./admin.js";
export { ADMIN_MAX_BODY, ADMIN_USERS_PATH, adminRoutes } from "./admin-http.js";
export {
  type AuthenticateDeps,
  type AuthOutcome,
  type AuthResult,
  authenticate,
  rateKeys,
} from "./authenticate.js";
export { AttemptGate } from "./gate.js";
export { hashPassword, MAX_PASSWORD_BYTES, verifyPassword } from "./passwords.js";
export { type AuthDeps, type AuthService, handleAuthRequest, start } from "./service.js";
