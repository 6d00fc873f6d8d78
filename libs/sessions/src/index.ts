import type { RedisSessionStoreOptions } from "./redis.js";
import type { SessionStore } from "./types.js";

// The contract suite is at "@impp/sessions/contract" so production imports never load node:test.
export { createMemorySessionStore } from "./memory.js";
export { MAX_DEVICE_NAME, nameCandidates } from "./names.js";
export { decodeDevice, encodeDevice } from "./record.js";
export type { RedisSessionStoreOptions } from "./redis.js";
export {
  type BindResult,
  type DevicePatch,
  type DeviceRecord,
  type EdgeDevice,
  type PresenceRecord,
  type RateResult,
  type ReadonlyDevice,
  SessionError,
  type SessionErrorKind,
  type SessionStore,
} from "./types.js";

/**
 * Connects to Redis (see redis.ts). ioredis is loaded by the first call, so a process with the
 * in-memory session store (the embedded server) never holds it: ~2 MiB of heap and its code.
 */
export async function connectRedisSessionStore(opts: RedisSessionStoreOptions): Promise<SessionStore> {
  return (await import("./redis.js")).connectRedisSessionStore(opts);
}
