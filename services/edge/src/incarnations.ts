// Every start of an edge has its own id (`${prefix}-${instance}`, see @impp/config), so a restarted
// edge — a container's PID 1 again, a second container with the host's name — never shares an id
// with another process. What an earlier incarnation left behind (devices in the session store) is
// cleaned up by presence's dead-edge sweep once that incarnation is dead; a starting edge speeds
// that up: an earlier incarnation of its prefix that nobody answers for on the bus is marked dead
// at once instead of after IMPP_EDGE_TTL_MS, so its ghost devices go on the sweep's next pass.
import { type Bus, isBusError, subjects } from "@impp/bus";
import { INSTANCE_SUFFIX } from "@impp/config";
import type { SessionStore } from "@impp/sessions";
import type { Logger } from "@impp/telemetry";

/** A liveness probe on an edge's delivery subject: an empty message, answered with an empty ack. */
export const PROBE = new Uint8Array(0);

export interface RetireReport {
  /** Earlier incarnations found dead (nobody subscribed to their subject) and marked dead. */
  retired: string[];
  /** Earlier incarnations that answered, or whose state could not be told: left alone. */
  alive: string[];
}

/**
 * Finds the other registered edges with this prefix and marks dead those that no process serves
 * any more. A NATS subscription goes with its process (the server sees the socket close), so "no
 * responders" is a reliable death notice; a timeout or any answer is not, and such an edge is left
 * to its heartbeat's TTL. Two live edges sharing a prefix (operator's mistake) answer each other's
 * probes and are both left alone.
 */
export async function retireEarlierIncarnations(opts: {
  bus: Bus;
  sessions: SessionStore;
  edgeId: string;
  prefix: string;
  timeoutMs: number;
  logger: Logger;
}): Promise<RetireReport> {
  const report: RetireReport = { retired: [], alive: [] };
  const siblings = (await opts.sessions.edgesWithPrefix(opts.prefix)).filter(
    (e) => e !== opts.edgeId && e.length === opts.prefix.length + 11 && INSTANCE_SUFFIX.test(e),
  );
  await Promise.all(
    siblings.map(async (id) => {
      try {
        await opts.bus.request(subjects.edge(id), PROBE, { timeoutMs: opts.timeoutMs });
        report.alive.push(id);
      } catch (e) {
        if (!isBusError(e, "NO_RESPONDERS")) {
          report.alive.push(id);
          return;
        }
        await opts.sessions.expireEdge(id);
        report.retired.push(id);
        opts.logger.info(
          { edge: opts.edgeId, earlier: id },
          "an earlier incarnation of this edge is gone: marked dead, its devices are unbound by the next sweep",
        );
      }
    }),
  );
  return report;
}
