// @impp/roster — the roster manager every feature shares (as Prosody's rostermanager is shared by
// its modules): the lists' tables and their transactional write side, the cached read side
// (relations), the pure rules (who may see whom, intelligent presence), and telling watchers.
export { type Change, type ListName, Lists, type ListsOptions } from "./lists.js";
export {
  type PresenceDeps,
  type PublishOptions,
  presenceBody,
  presenceUpdateFrame,
  publishPresence,
  tellPair,
  viewsOf,
} from "./presence.js";
export {
  blockedEitherWay,
  loadRelations,
  RELATIONS_CACHE_DEFAULT,
  type Relations,
  RelationsCache,
  type RelationsCacheOptions,
} from "./relations.js";
export {
  type Advertised,
  advertise,
  type DeviceState,
  fingerprint,
  maySee,
  OFFLINE,
  seesThroughInvisible,
  viewAsWatcher,
  viewFor,
} from "./rules.js";
export { RELATIONS, type RosterDb, type RosterTables, rosterDb, rosterMigrations } from "./tables.js";
