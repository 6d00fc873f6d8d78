// @impp/presence — the DEVICE family: binding devices, their indications, and cleanup after
// closed connections and dead edges.
export { type SweepReport, sweepDeadEdges } from "./cleanup.js";
export {
  type DeviceDeps,
  deviceGone,
  deviceRoutes,
  tellDevices,
  unbindIndication,
  updateIndication,
} from "./device.js";
export {
  bindShape,
  MAX_CAPABILITIES,
  MAX_CLIENT_FIELD_BYTES,
  MAX_STATUS_MESSAGE_BYTES,
  unbindShape,
  updateShape,
} from "./fields.js";
export { createPresenceModule, type PresenceOptions, type PresenceState, presenceModule } from "./module.js";
export { deviceTuple } from "./tuple.js";
