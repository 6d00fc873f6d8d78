import type { DeviceRecord } from "@impp/sessions";
import { deviceTuple } from "./tuple.js";

/**
 * A device's tuple with SERVER filled in when its edge's public address is known: the requester's
 * own edge always, other edges when this instance has seen a request from them.
 */
export function tupleFor(
  d: DeviceRecord,
  servers: Map<string, string> | undefined,
  requestEdge: string,
  requestServer: string,
): Buffer {
  const server = d.edgeId === requestEdge ? requestServer : servers?.get(d.edgeId);
  return deviceTuple(d, server);
}
