// The contract suite is at "@impp/sessions/contract" so production imports never load node:test.
export { createMemorySessionStore } from "./memory.js";
export { MAX_DEVICE_NAME, nameCandidates } from "./names.js";
export { decodeDevice, encodeDevice } from "./record.js";
export { connectRedisSessionStore, type RedisSessionStoreOptions } from "./redis.js";
export {
  type BindResult,
  type DevicePatch,
  type DeviceRecord,
  type EdgeDevice,
  type PresenceRecord,
  type RateResult,
  SessionError,
  type SessionErrorKind,
  type SessionStore,
} from "./types.js";
