// @impp/edge — the edge node: holds clients' TCP/TLS connections, runs the session state machine,
// routes requests to services over the bus and writes deliveries to connected devices.
export { MAX_QUEUED_REQUESTS } from "./connection.js";
export { AccountIndex, matchesFilter } from "./delivery.js";
export { drainNotice } from "./drain.js";
export { type EdgeDeps, type EdgeHandle, startEdge } from "./edge.js";
export { type DeviceGone, deviceGoneEvent } from "./events.js";
export { type EdgeState, edgeModule } from "./module.js";
export { decide, negotiateFeatures, Phase, versionReply } from "./session-state.js";
export { CloseReason, closeReasonLabel } from "./sweeper.js";
export { loadOrCreateTls, type TlsMaterial, TlsSetupError } from "./tls.js";
