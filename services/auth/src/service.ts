import type { Bus, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import type { Config } from "@impp/config";
import { Family } from "@impp/protocol";
import { safely, serveFamily } from "@impp/service-kit";
import type { SessionStore } from "@impp/sessions";
import type { Store } from "@impp/store";
import type { Telemetry } from "@impp/telemetry";
import { type AuthenticateDeps, authenticate } from "./authenticate.js";
import { dummyHash } from "./passwords.js";

export interface AuthDeps {
  bus: Bus;
  store: Store;
  /** Login rate limits (hit/peek). */
  sessions: SessionStore;
  config: Config;
  telemetry: Telemetry;
  now?: () => number;
}

export interface AuthService {
  stop(): Promise<void>;
}

/** STREAM requests → reply; never throws (a failure is SERVICE_UNAVAILABLE). */
export async function handleAuthRequest(
  req: RequestEnvelope,
  deps: AuthenticateDeps & { telemetry?: Telemetry },
): Promise<ReplyEnvelope> {
  return safely(req, deps.telemetry, async (r) => {
    const result = await authenticate(r, deps);
    deps.telemetry?.metrics.authAttempts.inc({ result: result.outcome });
    if (result.outcome === "rate_limited") {
      deps.telemetry?.logger.warn(
        { account: result.account, remoteAddress: r.remoteAddress },
        "login refused: too many failed attempts",
      );
    }
    return result.reply;
  });
}

/** Serves STREAM (family 1) requests from the edges: AUTHENTICATE. */
export async function start(deps: AuthDeps): Promise<AuthService> {
  // Made now so the first unknown-user login costs no extra hash (timing would tell it apart).
  await dummyHash();
  return serveFamily(deps.bus, deps.telemetry, "auth", Family.STREAM, (req) => handleAuthRequest(req, deps));
}
