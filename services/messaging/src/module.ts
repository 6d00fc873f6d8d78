// The messaging module: IM served on the bus. Its state is what its handlers need.
import { Family } from "@impp/protocol";
import { RelationsCache } from "@impp/roster";
import { defineModule } from "@impp/service-kit";
import { imRoutes, type MessagingDeps } from "./send.js";

export const messagingModule = defineModule<MessagingDeps>({
  role: "messaging",
  description:
    "IM: instant messages to the recipient's capable devices, copies to the sender's other devices",
  // Reads the device registry the presence module keeps (live state) and the roster's relations.
  depends: ["presence", "roster"],
  needs: { store: true },
  settings: ["IMPP_DOMAIN", "IMPP_REQUEST_TIMEOUT_MS"],
  families: [{ family: Family.IM, routes: imRoutes }],
  async start(ctx) {
    return {
      state: {
        bus: ctx.bus,
        sessions: ctx.sessions,
        relations: new RelationsCache(ctx.store!),
        config: ctx.config,
        telemetry: ctx.telemetry,
      },
    };
  },
});
