// Live state after Redis loses its data (issue #11): each edge holds the truth about its own
// connections. When a heartbeat finds the edge was no longer registered (Redis restarted empty, or
// the edge was swept as dead while it was only stalled), the edge puts every bound device back —
// same names, same connection ids, the record the service last stored — and tells presence, which
// recomputes what the users' watchers see.
import { decodeDevice, type SessionStore } from "@impp/sessions";
import type { Logger, Metrics } from "@impp/telemetry";

/** What the restorer needs of a connection. */
export interface Restorable {
  readonly id: string;
  readonly account: string;
  readonly device: string;
  readonly record: Uint8Array | undefined;
  readonly isClosed: boolean;
}

export interface RestoreDeps<C extends Restorable> {
  sessions: SessionStore;
  edgeId: string;
  logger: Logger;
  metrics: Metrics;
  /** The bound connections now. */
  bound(): Iterable<C>;
  /** The device's name is held by another connection now: this one must go (the client reconnects). */
  evict(conn: C): void;
  /** The connection unbound or closed while its device was being restored: undo it. */
  gone(account: string, device: string, connId: string): void;
  /** The device is registered again: presence recomputes the user's advertised state. */
  restored(account: string, device: string, connId: string): void;
}

/** Restores this many devices at once (Redis pipelines them). */
const CONCURRENCY = 64;

export interface RestoreReport {
  restored: number;
  present: number;
  taken: number;
  failed: number;
  /** Bound connections whose record the edge does not hold (bound by an older presence service). */
  unknown: number;
}

/**
 * Registers every bound connection's device again. Throws nothing: a failure is counted, and the
 * caller runs it again (failed > 0) on the next heartbeat.
 */
export async function restoreDevices<C extends Restorable>(deps: RestoreDeps<C>): Promise<RestoreReport> {
  const report: RestoreReport = { restored: 0, present: 0, taken: 0, failed: 0, unknown: 0 };
  const todo: C[] = [];
  for (const c of deps.bound()) {
    if (c.device === "" || c.isClosed) continue;
    if (c.record === undefined) report.unknown++;
    else todo.push(c);
  }
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const c = todo[next++]!;
      const account = c.account;
      const name = c.device;
      let result: Awaited<ReturnType<SessionStore["restoreDevice"]>>;
      try {
        const record = decodeDevice(
          account,
          Buffer.from(c.record!.buffer, c.record!.byteOffset, c.record!.length),
        );
        // The record names the device and connection as bound; the connection's own fields win.
        result = await deps.sessions.restoreDevice({
          ...record,
          account,
          name,
          connId: c.id,
          edgeId: deps.edgeId,
        });
      } catch (err) {
        report.failed++;
        deps.metrics.devicesRestored.inc({ result: "failed" });
        deps.logger.debug({ err: (err as Error).message, account, device: name }, "device not restored");
        continue;
      }
      report[result]++;
      deps.metrics.devicesRestored.inc({ result });
      if (result === "taken") {
        deps.logger.info(
          { account, device: name, conn: c.id },
          "device name taken by another connection while the live state was lost; closing this one",
        );
        deps.evict(c);
        continue;
      }
      if (c.isClosed || c.device !== name) deps.gone(account, name, c.id);
      else if (result === "restored") deps.restored(account, name, c.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, todo.length) }, worker));
  return report;
}
