// @impp/client — an IMPP client library for end-to-end tests, the benchmark and the terminal client.
export {
  type ClientEvents,
  type CloseInfo,
  type ConnectOptions,
  ImppClient,
  type RequestOptions,
} from "./client.js";
export { befriend } from "./contacts.js";
export { ClientError, type ClientErrorKind, type ClientErrorOptions, isClientError } from "./errors.js";
export type { ResponseFrame } from "./frames.js";
export { avatarBlock, type GroupRequest, groupBlock } from "./groups.js";
export type { FramePredicate } from "./indications.js";
export { connectAndLogin, type LoginOptions } from "./login.js";
export {
  authenticateBlock,
  type BindOptions,
  bindBlock,
  type ClientDescription,
  featuresBlock,
  type ImSendOptions,
  imSendBlock,
  listsBlock,
  newMessageId,
} from "./messages.js";
