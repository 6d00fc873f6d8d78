import assert from "node:assert/strict";
import { test } from "node:test";
import { ROLES } from "@impp/config";
import { Family, familyName } from "@impp/protocol";
import { modules, storeRoles } from "./modules.js";

test("the module list is the one list of roles: ROLES (config validation) names exactly its modules", () => {
  assert.deepEqual(modules.map((m) => m.role).sort(), [...ROLES].sort());
});

test("each family with a service is served by exactly one module; STREAM's AUTHENTICATE, DEVICE and IM are", () => {
  const served = new Map<number, string>();
  for (const m of modules) for (const f of m.families ?? []) served.set(f.family, m.role);
  assert.equal(served.get(Family.STREAM), "auth");
  assert.equal(served.get(Family.DEVICE), "presence");
  assert.equal(served.get(Family.IM), "messaging");
  assert.equal(served.get(Family.LISTS), "roster");
  assert.equal(served.get(Family.PRESENCE), "presence");
  assert.equal(served.get(Family.AVATAR), "avatar");
  assert.equal(served.get(Family.GROUP_CHATS), "groupchat");
  for (const [family, role] of served) assert.ok(role, familyName(family));
});

test("dependencies come before the modules that use them; the store goes to the modules that declare it", () => {
  const order = modules.map((m) => m.role);
  for (const m of modules) {
    for (const d of m.depends ?? [])
      assert.ok(order.indexOf(d) < order.indexOf(m.role), `${d} before ${m.role}`);
  }
  assert.deepEqual(storeRoles, ["auth", "roster", "presence", "messaging", "avatar", "groupchat"]);
  // A module with tables must be given the store.
  for (const m of modules) if (m.migrations !== undefined) assert.ok(storeRoles.includes(m.role), m.role);
});
