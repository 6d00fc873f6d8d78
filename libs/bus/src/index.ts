// @impp/bus — how edges and services talk: the Bus interface, its in-process and
// NATS implementations, subject names and the binary envelopes. The contract
// suite lives at "@impp/bus/contract" so production code never loads node:test.
export * from "./bus.js";
export {
  type CallOptions,
  type DeliveryServer,
  deliverToEdge,
  type RequestServer,
  requestService,
  type ServeOptions,
  serveDeliveries,
  serveRequests,
} from "./calls.js";
export * from "./envelope.js";
export { createMemoryBus, MEMORY_MAX_PAYLOAD, type MemoryBusOptions } from "./memory.js";
export { connectNatsBus, type NatsAuth, type NatsBusOptions, natsConnectOptions } from "./nats.js";
export { isPublishSubject, isSubscribeSubject } from "./subject-syntax.js";
export { isSubjectToken, SubjectTokenError, subjects } from "./subjects.js";
