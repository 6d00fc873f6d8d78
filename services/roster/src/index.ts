// @impp/roster-service — the LISTS family as a module.
export { listsRoutes, MAX_NICKNAME_BYTES, type RosterState } from "./lists.js";
export { rosterModule } from "./module.js";
