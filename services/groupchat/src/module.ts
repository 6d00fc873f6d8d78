// The group-chat module: GROUP_CHATS served on the bus. It owns the group tables; contact and block
// checks are the roster manager's (@impp/roster), read through its token-checked cache.
import { Family } from "@impp/protocol";
import { RelationsCache } from "@impp/roster";
import { defineModule } from "@impp/service-kit";
import { type GroupState, groupChatRoutes } from "./groupchat.js";
import { Groups } from "./groups.js";
import { PerKey } from "./order.js";
import { groupMigrations } from "./tables.js";

const DAY = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export interface GroupModuleState extends GroupState {
  /** History retention and groups left without members (accounts removed); what tests call. */
  prune(): Promise<{ messages: number; groups: number }>;
}

export const groupChatModule = defineModule<GroupModuleState>({
  role: "groupchat",
  description: "GROUP_CHATS: persistent server-side group chats, ordered per group",
  // Members are accounts and must be contacts (the roster's relations); devices from presence.
  depends: ["auth", "roster", "presence"],
  needs: { store: true },
  migrations: groupMigrations,
  settings: [
    "IMPP_GROUP_MAX_MEMBERS",
    "IMPP_GROUPS_PER_USER",
    "IMPP_GROUP_HISTORY_DAYS",
    "IMPP_DOMAIN",
    "IMPP_REQUEST_TIMEOUT_MS",
  ],
  families: [{ family: Family.GROUP_CHATS, routes: groupChatRoutes }],
  async start(ctx) {
    const store = ctx.store!;
    const { maxMembers, perUser, historyDays } = ctx.config.groups;
    const groups = new Groups(store, { maxMembers, perUser });
    const prune = () => groups.prune(historyDays > 0 ? Date.now() - historyDays * DAY : undefined);
    let running: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      running ??= prune()
        .then((r) => {
          if (r.messages + r.groups > 0) ctx.telemetry.logger.info(r, "group history pruned");
        })
        .catch((err: unknown) => ctx.telemetry.logger.warn({ err }, "group history prune failed"))
        .finally(() => {
          running = undefined;
        });
    }, PRUNE_EVERY_MS);
    timer.unref();
    return {
      state: {
        groups,
        relations: new RelationsCache(store),
        sessions: ctx.sessions,
        bus: ctx.bus,
        config: ctx.config,
        telemetry: ctx.telemetry,
        order: new PerKey(),
        sends: new PerKey(),
        prune,
      },
      async stop() {
        clearInterval(timer);
        await running;
      },
    };
  },
});
