// The roster module: LISTS served on the bus. It owns the lists' tables (their schema and write
// side live in @impp/roster, the roster manager every feature reads them through).
import { Family } from "@impp/protocol";
import { Lists, RelationsCache, rosterMigrations } from "@impp/roster";
import { defineModule } from "@impp/service-kit";
import { listsRoutes, type RosterState } from "./lists.js";

export const rosterModule = defineModule<RosterState>({
  role: "roster",
  description: "LISTS: contacts, authorization, allow and block lists",
  // The lists refer to accounts (foreign keys): auth's tables first.
  depends: ["auth"],
  needs: { store: true },
  migrations: rosterMigrations,
  settings: ["IMPP_LIST_LIMIT", "IMPP_DOMAIN"],
  families: [{ family: Family.LISTS, routes: listsRoutes }],
  async start(ctx) {
    const store = ctx.store!;
    const relations = new RelationsCache(store);
    return {
      state: {
        lists: new Lists(store, { limit: ctx.config.limits.listLimit }),
        relations,
        sessions: ctx.sessions,
        presence: {
          bus: ctx.bus,
          sessions: ctx.sessions,
          relations,
          config: ctx.config,
          telemetry: ctx.telemetry,
        },
        config: ctx.config,
        telemetry: ctx.telemetry,
      },
    };
  },
});
