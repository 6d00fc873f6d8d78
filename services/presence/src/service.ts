import { randomBytes } from "node:crypto";
import type { Bus, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import { subjects } from "@impp/bus";
import type { Config } from "@impp/config";
import { Family } from "@impp/protocol";
import { safely, serveFamily } from "@impp/service-kit";
import type { SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";
import { onDeviceGone, sweepDeadEdges } from "./cleanup.js";
import { type DeviceDeps, deviceRequest } from "./device.js";

export interface PresenceDeps {
  bus: Bus;
  sessions: SessionStore;
  config: Config;
  telemetry: Telemetry;
  now?: () => number;
  /** Default: half the edge's request timeout, at most 2 s. */
  deliveryTimeoutMs?: number;
  /** Names this instance in dead-edge cleanup claims. Default: the config's node id plus random bytes. */
  instanceId?: string;
}

export interface PresenceService {
  /** Runs one dead-edge sweep now (tests, and operators who cannot wait for the timer). */
  sweep(): Promise<{ edges: string[]; devices: number }>;
  stop(): Promise<void>;
}

/** DEVICE requests → reply; never throws (a failure is SERVICE_UNAVAILABLE). */
export function handleDeviceRequest(req: RequestEnvelope, deps: DeviceDeps): Promise<ReplyEnvelope> {
  return safely(req, deps.telemetry, (r) => deviceRequest(r, deps));
}

/**
 * Serves DEVICE (family 2), unbinds devices whose connection closed (subjects.deviceGone), and sweeps
 * dead edges every heartbeat interval.
 *
 * Detection bound: an edge that dies right after a heartbeat is seen dead once its key expires
 * (heartbeat ttlMs later) and cleaned by the next sweep, so its devices are unbound and the users'
 * other devices told within ttlMs + intervalMs of its last heartbeat (12 s with the defaults), plus
 * the sweep's own run time.
 */
export async function start(deps: PresenceDeps): Promise<PresenceService> {
  const servers = new Map<string, string>();
  const d: DeviceDeps = { ...deps, servers };
  const holder = deps.instanceId ?? `${deps.config.edgeId}-presence-${randomBytes(4).toString("hex")}`;
  const { intervalMs, ttlMs } = deps.config.heartbeat;
  // Long enough to finish a large edge's cleanup, short enough that a crashed cleaner is replaced soon.
  const claimTtlMs = Math.max(3 * ttlMs, 30_000);
  const log = deps.telemetry.logger;

  const family = serveFamily(deps.bus, deps.telemetry, "presence", Family.DEVICE, (req) =>
    handleDeviceRequest(req, d),
  );
  const gone = deps.bus.subscribe(
    subjects.deviceGone,
    (msg) => onDeviceGone(d, msg).catch((err: unknown) => log.error({ err }, "device-gone handling failed")),
    { queue: subjects.presenceQueue },
  );

  let running: Promise<unknown> | undefined;
  const sweep = () => {
    // One sweep at a time: a slow one is not overlapped by the next tick.
    running ??= sweepDeadEdges(d, holder, claimTtlMs).finally(() => {
      running = undefined;
    });
    return running as Promise<{ edges: string[]; devices: number }>;
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
    sweep,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      gone.unsubscribe();
      await family.stop();
      await running?.catch(() => undefined);
    },
  };
}
