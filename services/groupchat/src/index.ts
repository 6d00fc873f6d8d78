// @impp/groupchat — the GROUP_CHATS family as a module.
export {
  type GroupState,
  groupChatRoutes,
  MAX_MESSAGE_BYTES,
  MAX_NAME_CHARS,
  messageFrame,
  tupleOf,
} from "./groupchat.js";
export { type Change, type GroupLimits, Groups, type GroupView, type StoredMessage } from "./groups.js";
export { type GroupModuleState, groupChatModule } from "./module.js";
export { PerKey } from "./order.js";
export { type GroupDb, type GroupTables, groupDb, groupMigrations } from "./tables.js";
