// The auth module: STREAM AUTHENTICATE on the bus. It owns the accounts table.
import { Family, StreamType } from "@impp/protocol";
import { defineModule, route } from "@impp/service-kit";
import type { Telemetry } from "@impp/telemetry";
import { accountsMigrations, createAccountsRepository } from "./accounts.js";
import { type AuthenticateDeps, authenticate, authenticateShape } from "./authenticate.js";
import { dummyHash } from "./passwords.js";

export type AuthState = AuthenticateDeps & { telemetry?: Telemetry };

/** STREAM (family 1): AUTHENTICATE. FEATURES_SET and PING are the edge's own; other types are unknown. */
export const streamRoutes = [
  route({
    type: StreamType.AUTHENTICATE,
    session: "anonymous",
    shape: authenticateShape,
    async handle(req, deps: AuthState) {
      const result = await authenticate(req, deps);
      deps.telemetry?.metrics.authAttempts.inc({ result: result.outcome });
      if (result.outcome === "rate_limited") {
        deps.telemetry?.logger.warn(
          { account: result.account, remoteAddress: req.envelope.remoteAddress },
          "login refused: too many failed attempts",
        );
      }
      return result.reply;
    },
  }),
];

export const authModule = defineModule<AuthState>({
  role: "auth",
  description: "STREAM AUTHENTICATE: accounts (argon2id) and login rate limits",
  needs: { store: true },
  migrations: accountsMigrations,
  settings: [
    "IMPP_DOMAIN",
    "IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT",
    "IMPP_LOGIN_ACCOUNT_WINDOW_MS",
    "IMPP_LOGIN_ATTEMPTS_PER_ADDRESS",
    "IMPP_LOGIN_ADDRESS_WINDOW_MS",
  ],
  families: [{ family: Family.STREAM, routes: streamRoutes }],
  async start(ctx) {
    // Made now so the first unknown-user login costs no extra hash (timing would tell it apart).
    await dummyHash();
    return {
      state: {
        accounts: createAccountsRepository(ctx.store!),
        sessions: ctx.sessions,
        config: ctx.config,
        telemetry: ctx.telemetry,
      },
    };
  },
});
