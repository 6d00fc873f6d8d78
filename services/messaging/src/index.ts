// @impp/messaging — IM MESSAGE_SEND: routing to the recipient's capable devices and copies to
// the sender's other devices.
export { normalizeAddress } from "./address.js";
export {
  imRequest,
  MAX_CAPABILITY,
  MAX_MESSAGE_CHUNK_BYTES,
  MAX_MESSAGE_ID_BYTES,
  MAX_MESSAGE_SIZE,
  type MessagingDeps,
} from "./send.js";
export { handleImRequest, type MessagingService, type MessagingServiceDeps, start } from "./service.js";
