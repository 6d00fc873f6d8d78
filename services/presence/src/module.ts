// The presence module: serves DEVICE and PRESENCE, unbinds devices whose connection closed (the
// edge's device-gone event), sweeps dead edges every heartbeat interval, and keeps every user's
// advertised presence told to the watchers allowed to see it.
import { randomBytes } from "node:crypto";
import { type DeviceGone, deviceGoneEvent, deviceRestoredEvent } from "@impp/edge/events";
import { Family } from "@impp/protocol";
import { type PresenceDeps, publishPresence, RelationsCache } from "@impp/roster";
import { defineModule, type FamilyModule, subscribeEvent } from "@impp/service-kit";
import { type SweepReport, sweepDeadEdges } from "./cleanup.js";
import { type DeviceDeps, deviceGone, deviceRoutes, presenceChanged } from "./device.js";
import { applyStatus, presenceRoutes } from "./presence.js";

export interface PresenceState extends DeviceDeps {
  presence: PresenceDeps;
  /** Runs one dead-edge sweep now (tests, and operators who cannot wait for the timer). */
  sweep(): Promise<SweepReport>;
}

export interface PresenceOptions {
  /** Server clock in ms (tests). */
  now?: () => number;
  /** Default: half the edge's request timeout, at most 2 s. */
  deliveryTimeoutMs?: number;
  /** Names this instance in dead-edge cleanup claims. Default: the config's node id plus random bytes. */
  instanceId?: string;
}

/**
 * Detection bound of the dead-edge sweep: an edge that dies right after a heartbeat is seen dead
 * once its key expires (heartbeat ttlMs later) and cleaned by the next sweep, so its devices are
 * unbound and the users' other devices told within ttlMs + intervalMs of its last heartbeat (12 s
 * with the defaults), plus the sweep's own run time.
 */
export function createPresenceModule(opts: PresenceOptions = {}): FamilyModule<PresenceState> {
  return defineModule<PresenceState>({
    role: "presence",
    description:
      "DEVICE: binding devices, their indications, cleanup after closed connections and dead edges",
    settings: ["IMPP_MAX_DEVICES", "IMPP_BANNED_CLIENTS", "IMPP_EDGE_HEARTBEAT_MS", "IMPP_EDGE_TTL_MS"],
    // Watchers are who a user approved: the roster's relations (read through the store).
    depends: ["roster"],
    needs: { store: true },
    families: [
      { family: Family.DEVICE, routes: deviceRoutes },
      { family: Family.PRESENCE, routes: presenceRoutes },
    ],
    async start(ctx) {
      const presence: PresenceDeps = {
        bus: ctx.bus,
        sessions: ctx.sessions,
        relations: new RelationsCache(ctx.store!),
        config: ctx.config,
        telemetry: ctx.telemetry,
        deliveryTimeoutMs: opts.deliveryTimeoutMs,
      };
      const d: DeviceDeps = {
        onPresence: async (account, status, exceptDevice) => {
          await applyStatus(ctx.sessions, account, status);
          await publishPresence(presence, account, exceptDevice === undefined ? {} : { exceptDevice });
        },
        bus: ctx.bus,
        sessions: ctx.sessions,
        config: ctx.config,
        telemetry: ctx.telemetry,
        servers: new Map<string, string>(),
        ...(opts.now ? { now: opts.now } : {}),
        ...(opts.deliveryTimeoutMs !== undefined ? { deliveryTimeoutMs: opts.deliveryTimeoutMs } : {}),
      };
      const holder = opts.instanceId ?? `${ctx.config.edgeId}-presence-${randomBytes(4).toString("hex")}`;
      const { intervalMs, ttlMs } = ctx.config.heartbeat;
      // Long enough to finish a large edge's cleanup, short enough that a crashed cleaner is replaced soon.
      const claimTtlMs = Math.max(3 * ttlMs, 30_000);
      const log = ctx.telemetry.logger;

      const gone = subscribeEvent(
        ctx.bus,
        deviceGoneEvent,
        async (e: DeviceGone) => {
          await deviceGone(d, e.account, e.device, e.connId);
        },
        { role: "presence", telemetry: ctx.telemetry },
      );

      // An edge registered a device again after the live state lost it (Redis restarted empty): the
      // user's presence record went with it, so what watchers see is computed again from the devices.
      const restored = subscribeEvent(
        ctx.bus,
        deviceRestoredEvent,
        async (e) => {
          await presenceChanged(d, e.account);
        },
        { role: "presence", telemetry: ctx.telemetry },
      );

      let running: Promise<SweepReport> | undefined;
      const sweep = () => {
        // One sweep at a time: a slow one is not overlapped by the next tick.
        running ??= sweepDeadEdges(d, holder, claimTtlMs).finally(() => {
          running = undefined;
        });
        return running;
      };
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      const tick = () => {
        timer = setTimeout(() => {
          sweep()
            .catch((err: unknown) => log.error({ err }, "dead-edge sweep failed"))
            .finally(() => {
              if (!stopped) tick();
            });
        }, intervalMs);
        timer.unref();
      };
      tick();

      return {
        state: { ...d, presence, sweep },
        async stop() {
          stopped = true;
          clearTimeout(timer);
          await gone.stop();
          await restored.stop();
          await running?.catch(() => undefined);
        },
      };
    },
  });
}

export const presenceModule = createPresenceModule();
