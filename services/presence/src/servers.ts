import type { DeviceRecord } from "@impp/sessions";
import { deviceTuple } from "./tuple.js";

/**
 * A device's tuple with SERVER: the address stored with the device at BIND; for a record without
 * one, the requester's own edge, or an edge this instance has seen a request from.
 */
export function tupleFor(
  d: DeviceRecord,
  servers: Map<string, string> | undefined,
  requestEdge: string,
  requestServer: string,
): Buffer {
  const server = d.server ?? (d.edgeId === requestEdge ? requestServer : servers?.get(d.edgeId));
  return deviceTuple(d, server);
}
