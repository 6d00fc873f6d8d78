// @impp/avatar — the AVATAR family as a module.
export { type AvatarState, avatarRoutes, getBody } from "./avatar.js";
export { Avatars, sha1Of } from "./avatars.js";
export { ByteLru } from "./cache.js";
export { type ImageKind, imageKind, MAX_AVATAR_BYTES } from "./image.js";
export { type AvatarModuleState, avatarModule } from "./module.js";
export { type AvatarDb, type AvatarTables, avatarDb, avatarMigrations } from "./tables.js";
