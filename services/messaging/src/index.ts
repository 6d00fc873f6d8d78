// @impp/messaging — IM MESSAGE_SEND: routing to the recipient's capable devices and copies to
// the sender's other devices.
export { messagingModule } from "./module.js";
export {
  createOffline,
  isStorable,
  type Offline,
  type OfflineOptions,
  offlineDeleteShape,
  offlineRoutes,
  offlineTuple,
} from "./offline.js";
export {
  createOfflineRepository,
  type OfflineLimits,
  type OfflineMessage,
  type OfflineRepository,
  type OfflineTables,
  offlineMigrations,
  type StoreOutcome,
} from "./offline-store.js";
export {
  imRoutes,
  MAX_CAPABILITY,
  MAX_MESSAGE_CHUNK_BYTES,
  MAX_MESSAGE_ID_BYTES,
  MAX_MESSAGE_SIZE,
  type MessagingDeps,
  messageSendShape,
} from "./send.js";
