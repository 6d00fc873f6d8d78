// The messaging module: IM served on the bus. Its state is what its handlers need; it owns the
// offline store's tables (offline-store.ts), which refer to auth's accounts.
import { Family } from "@impp/protocol";
import { RelationsCache } from "@impp/roster";
import { defineModule } from "@impp/service-kit";
import { createOffline } from "./offline.js";
import { createOfflineRepository, offlineMigrations } from "./offline-store.js";
import { imRoutes, type MessagingDeps } from "./send.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const messagingModule = defineModule<MessagingDeps>({
  role: "messaging",
  description:
    "IM: instant messages to the recipient's capable devices, copies to the sender's other devices, offline messages",
  // Reads the device registry the presence module keeps (live state) and the roster's relations;
  // offline messages refer to auth's accounts (its migrations run first).
  depends: ["presence", "roster", "auth"],
  needs: { store: true },
  migrations: offlineMigrations,
  settings: [
    "IMPP_DOMAIN",
    "IMPP_REQUEST_TIMEOUT_MS",
    "IMPP_MAX_BLOCK",
    "IMPP_OFFLINE_MAX_MESSAGES",
    "IMPP_OFFLINE_MAX_BYTES",
    "IMPP_OFFLINE_RETENTION_DAYS",
    "IMPP_OFFLINE_MAX_BATCH",
  ],
  families: [{ family: Family.IM, routes: imRoutes }],
  async start(ctx) {
    const repo = createOfflineRepository(ctx.store!);
    const offline = createOffline(repo, ctx.config.offline, { maxBatch: ctx.config.offline.maxBatch });
    const log = ctx.telemetry.logger.child({ component: "offline" });
    // Retention (off by default): hourly, and once at start.
    const days = ctx.config.offline.retentionDays;
    let purging: Promise<void> | undefined;
    const purge = () => {
      if (days === undefined || purging !== undefined) return;
      purging = repo
        .purgeOlderThan(Date.now() - days * DAY)
        .then(
          (n) => {
            if (n > 0) log.info({ deleted: n, days }, "offline messages past retention deleted");
          },
          (e: unknown) => log.warn({ err: (e as Error).message }, "offline retention failed"),
        )
        .finally(() => {
          purging = undefined;
        });
    };
    const timer = days === undefined ? undefined : setInterval(purge, HOUR);
    timer?.unref();
    purge();
    return {
      state: {
        bus: ctx.bus,
        sessions: ctx.sessions,
        relations: new RelationsCache(ctx.store!),
        config: ctx.config,
        telemetry: ctx.telemetry,
        offline,
      },
      async stop() {
        if (timer !== undefined) clearInterval(timer);
        await purging;
        await offline.settle();
      },
    };
  },
});
