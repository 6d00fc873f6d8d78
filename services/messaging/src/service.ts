import type { Bus, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import type { Config } from "@impp/config";
import { Family } from "@impp/protocol";
import { safely, serveFamily } from "@impp/service-kit";
import type { SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";
import { imRequest, type MessagingDeps } from "./send.js";

export interface MessagingServiceDeps {
  bus: Bus;
  sessions: SessionStore;
  config: Config;
  telemetry: Telemetry;
  now?: () => number;
  deliveryTimeoutMs?: number;
}

export interface MessagingService {
  stop(): Promise<void>;
}

/** IM requests → reply; never throws (a failure is SERVICE_UNAVAILABLE). */
export function handleImRequest(req: RequestEnvelope, deps: MessagingDeps): Promise<ReplyEnvelope> {
  return safely(req, deps.telemetry, (r) => imRequest(r, deps));
}

/** Serves IM (family 4) requests from the edges: MESSAGE_SEND. */
export async function start(deps: MessagingServiceDeps): Promise<MessagingService> {
  return serveFamily(deps.bus, deps.telemetry, "messaging", Family.IM, (req) => handleImRequest(req, deps));
}
