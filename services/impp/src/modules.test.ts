import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ConfigError, loadConfig, ROLES } from "@impp/config";
import { Family, familyName } from "@impp/protocol";
import { withDependencies } from "@impp/service-kit";
import { sql } from "kysely";
import { modules, storeRoles } from "./modules.js";
import { startServer } from "./runtime.js";

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

test("a process running only the roster opens the store and migrates auth's accounts first (its lists refer to them)", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "impp-roles-"));
  const config = loadConfig({
    IMPP_ROLES: "roster",
    IMPP_DATA_DIR: dataDir,
    IMPP_HTTP_PORT: "0",
    IMPP_LOG_LEVEL: "silent",
  });
  assert.ok(!(config instanceof ConfigError), String(config));
  const server = await startServer(config);
  try {
    assert.ok(server.store, "the store is opened for the roster module alone");
    assert.equal(server.edge, undefined);
    const tables = await sql<{
      t: string;
    }>`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'`.execute(server.store.db);
    const names = tables.rows.map((r) => r.t);
    for (const t of ["accounts", "roster_contacts", "roster_block"]) assert.ok(names.includes(t), t);
    assert.equal(names.includes("offline_messages"), false, "messaging's tables are not this process's");
    assert.deepEqual(
      withDependencies(
        modules,
        modules.filter((m) => m.role === "roster"),
      ).map((m) => m.role),
      ["auth", "roster"],
    );
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
