// The avatar module: AVATAR served on the bus. It owns the avatar tables; the presence record and
// the fan-out of PRESENCE UPDATE are the roster manager's (@impp/roster), shared with presence.
import { Family } from "@impp/protocol";
import { RelationsCache } from "@impp/roster";
import { defineModule } from "@impp/service-kit";
import { type AvatarState, avatarRoutes } from "./avatar.js";
import { Avatars } from "./avatars.js";
import { ByteLru } from "./cache.js";
import { avatarMigrations } from "./tables.js";

/** A started avatar module's state, plus the sweep tests call. */
export interface AvatarModuleState extends AvatarState {
  /** Removes images nobody shows, uploaded before `now - graceMs`; returns how many. */
  sweep(graceMs?: number): Promise<number>;
}

export const avatarModule = defineModule<AvatarModuleState>({
  role: "avatar",
  description: "AVATAR: content-addressed avatar images, cached by bytes; SET tells watchers",
  // Avatars belong to accounts (foreign keys); SET publishes presence the way the presence module does.
  depends: ["auth", "roster", "presence"],
  needs: { store: true },
  migrations: avatarMigrations,
  settings: ["IMPP_AVATAR_CACHE_BYTES", "IMPP_AVATAR_SWEEP_MS", "IMPP_REQUEST_TIMEOUT_MS"],
  families: [{ family: Family.AVATAR, routes: avatarRoutes }],
  async start(ctx) {
    const store = ctx.store!;
    const avatars = new Avatars(store);
    const cache = new ByteLru({ maxBytes: ctx.config.avatars.cacheBytes });
    const interval = ctx.config.avatars.sweepMs;
    const sweep = async (graceMs = interval) => {
      const removed = await avatars.sweep(new Date(Date.now() - graceMs));
      for (const sha1 of removed) cache.delete(sha1.toString("hex"));
      if (removed.length > 0)
        ctx.telemetry.logger.info({ removed: removed.length }, "unused avatars removed");
      return removed.length;
    };
    let running: Promise<unknown> | undefined;
    const timer =
      interval > 0
        ? setInterval(() => {
            running ??= sweep()
              .catch((err: unknown) => ctx.telemetry.logger.warn({ err }, "avatar sweep failed"))
              .finally(() => {
                running = undefined;
              });
          }, interval)
        : undefined;
    timer?.unref();
    return {
      state: {
        avatars,
        cache,
        sessions: ctx.sessions,
        presence: {
          bus: ctx.bus,
          sessions: ctx.sessions,
          relations: new RelationsCache(store),
          config: ctx.config,
          telemetry: ctx.telemetry,
        },
        sweep,
      },
      async stop() {
        if (timer !== undefined) clearInterval(timer);
        await running;
      },
    };
  },
});
