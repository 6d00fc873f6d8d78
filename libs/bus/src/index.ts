// @impp/bus — how edges and services talk: the Bus interface, its in-process and
// NATS implementations, subject names and the binary envelopes. The contract
// suite lives at "@impp/bus/contract" so production code never loads node:test.
import type { Bus } from "./bus.js";
import type { NatsBusOptions } from "./nats.js";

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
export type { NatsAuth, NatsBusOptions } from "./nats.js";
export { isPublishSubject, isSubscribeSubject } from "./subject-syntax.js";
export { isSubjectToken, SubjectTokenError, subjects } from "./subjects.js";

/**
 * Connects to NATS (see nats.ts). The NATS client is loaded by the first call, so a process on
 * the in-process bus (the embedded server) never holds it: ~2 MiB of heap and its code.
 */
export async function connectNatsBus(opts: NatsBusOptions): Promise<Bus> {
  return (await import("./nats.js")).connectNatsBus(opts);
}
