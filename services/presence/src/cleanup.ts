// Implicit unbinds after a dead edge: every device it held goes, and the users' other devices hear of it.
import { type DeviceDeps, presenceChanged, tellDevices, unbindIndication } from "./device.js";

export interface SweepReport {
  /** Dead edges this instance cleaned up. */
  edges: string[];
  /** Devices unbound. */
  devices: number;
}

/**
 * One pass of dead-edge cleanup. Each dead edge is claimed first, so with several presence instances
 * only one cleans it; the claim lasts `claimTtlMs`, after which another instance may take over a
 * cleanup whose holder died. Per account, all of the edge's devices are removed before the remaining
 * devices are told, in one delivery per edge carrying one UNBIND indication per device that went.
 */
export async function sweepDeadEdges(
  deps: DeviceDeps,
  holder: string,
  claimTtlMs: number,
): Promise<SweepReport> {
  const report: SweepReport = { edges: [], devices: 0 };
  for (const edgeId of await deps.sessions.deadEdges()) {
    if (!(await deps.sessions.claimEdgeCleanup(edgeId, holder, claimTtlMs))) continue;
    const byAccount = new Map<string, Array<{ name: string; connId: string }>>();
    for (const d of await deps.sessions.devicesOfEdge(edgeId)) {
      const list = byAccount.get(d.account);
      if (list === undefined) byAccount.set(d.account, [d]);
      else list.push(d);
    }
    for (const [account, devices] of byAccount) {
      const frames: Buffer[] = [];
      for (const d of devices) {
        if ((await deps.sessions.unbindDevice(account, d.name, d.connId)) !== undefined) {
          frames.push(unbindIndication(d.name));
          report.devices++;
        }
      }
      if (frames.length === 0) continue;
      const rest = await deps.sessions.getDevices(account);
      await tellDevices(deps, account, rest, Buffer.concat(frames));
      await presenceChanged(deps, account);
    }
    await deps.sessions.forgetEdge(edgeId);
    report.edges.push(edgeId);
    deps.telemetry?.logger.info({ edgeId, devices: report.devices }, "dead edge cleaned up");
  }
  return report;
}
