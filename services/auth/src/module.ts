// The auth module: STREAM AUTHENTICATE on the bus. It owns the accounts table.
import { Family, StreamType } from "@impp/protocol";
import { defineModule, route } from "@impp/service-kit";
import { RepeatLimiter, type Telemetry } from "@impp/telemetry";
import { accountsMigrations, createAccountsRepository } from "./accounts.js";
import { type AuthenticateDeps, authenticate, authenticateShape } from "./authenticate.js";
import { dummyHash } from "./passwords.js";

export type AuthState = AuthenticateDeps & { telemetry?: Telemetry; limited?: RepeatLimiter };

/** STREAM (family 1): AUTHENTICATE. FEATURES_SET and PING are the edge's own; other types are unknown. */
export const streamRoutes = [
  route({
    type: StreamType.AUTHENTICATE,
    session: "anonymous",
    shape: authenticateShape,
    async handle(req, deps: AuthState) {
      const result = await authenticate(req, deps);
      deps.telemetry?.metrics.authAttempts.inc({ result: result.outcome });
      // Never the password: the account (when the name was one), the client address and why.
      const who = {
        account: result.account,
        remoteAddress: req.envelope.remoteAddress,
        reason: result.outcome,
      };
      if (result.outcome === "rate_limited") {
        deps.limited?.log("warn", "login-rate-limited", who, "login refused: too many failed attempts");
      } else if (result.outcome === "address_limited") {
        deps.limited?.log(
          "warn",
          "login-address-limited",
          who,
          "login refused: too many accounts failed from this address",
        );
      } else if (result.outcome !== "ok") {
        deps.limited?.log(
          "info",
          "login-failed",
          result.delayedMs === undefined ? who : { ...who, delayedMs: result.delayedMs },
          "login failed",
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
    "IMPP_LOG_REPEATS_PER_MINUTE",
    "IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT",
    "IMPP_LOGIN_ACCOUNT_WINDOW_MS",
    "IMPP_LOGIN_ATTEMPTS_PER_ADDRESS",
    "IMPP_LOGIN_ADDRESS_WINDOW_MS",
    "IMPP_LOGIN_ADDRESS_DELAY_MS",
    "IMPP_LOGIN_KNOWN_GOOD_MS",
    "IMPP_REQUEST_TIMEOUT_MS",
  ],
  families: [{ family: Family.STREAM, routes: streamRoutes }],
  async start(ctx) {
    // Made now so the first unknown-user login costs no extra hash (timing would tell it apart).
    await dummyHash();
    const limited = new RepeatLimiter(ctx.telemetry.logger.child({ component: "auth" }), {
      perWindow: ctx.config.logRepeatsPerMinute,
    });
    return {
      state: {
        accounts: createAccountsRepository(ctx.store!),
        sessions: ctx.sessions,
        config: ctx.config,
        telemetry: ctx.telemetry,
        limited,
      },
      stop: async () => limited.close(),
    };
  },
});
