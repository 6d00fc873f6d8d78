// @impp/presence — the DEVICE family: binding devices, their indications, and cleanup after
// closed connections and dead edges.
export { onDeviceGone, type SweepReport, sweepDeadEdges } from "./cleanup.js";
export {
  type DeviceDeps,
  deviceGone,
  deviceRequest,
  tellDevices,
  unbindIndication,
  updateIndication,
} from "./device.js";
export {
  MAX_CAPABILITIES,
  MAX_CLIENT_FIELD_BYTES,
  MAX_STATUS_MESSAGE_BYTES,
} from "./fields.js";
export { handleDeviceRequest, type PresenceDeps, type PresenceService, start } from "./service.js";
export { deviceTuple } from "./tuple.js";
