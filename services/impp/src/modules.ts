// The one list of modules a server is composed from. Adding a family is adding its package and one
// line here (and its role name to ROLES in @impp/config, which a test checks against this list).
import { authModule } from "@impp/auth";
import { avatarModule } from "@impp/avatar";
import { edgeModule } from "@impp/edge";
import { groupChatModule } from "@impp/groupchat";
import { messagingModule } from "@impp/messaging";
import { presenceModule } from "@impp/presence";
import { rosterModule } from "@impp/roster-service";
import { type AnyModule, checkModules } from "@impp/service-kit";

/** In dependency order after checking; checked once, when this file is loaded. */
export const modules: readonly AnyModule[] = checkModules([
  edgeModule,
  authModule,
  rosterModule,
  presenceModule,
  messagingModule,
  avatarModule,
  groupChatModule,
]);

/** The roles whose modules open the durable store (the deploy files give only these the database). */
export const storeRoles: readonly string[] = modules
  .filter((m) => m.needs?.store === true)
  .map((m) => m.role);
