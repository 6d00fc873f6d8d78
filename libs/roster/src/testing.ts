// Test helpers (never loaded by production code): accounts and relations set up directly in the
// tables, so a feature's tests can start from "these two are contacts" without speaking LISTS.
import type { SessionStore } from "@impp/sessions";
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { rosterDb } from "./tables.js";

/** Accounts rows (auth's table must exist) with an unusable password hash. */
export async function seedAccounts(store: Pick<Store, "db">, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await sql`INSERT INTO accounts (name, password_hash) VALUES (${name}, 'x') ON CONFLICT DO NOTHING`.execute(
      rosterDb(store),
    );
  }
}

/**
 * `a` and `b` list each other and approved each other, as after CONTACT_ADD and CONTACT_APPROVE
 * both ways; `sessions` (when given) gets their list tokens bumped, as the roster does.
 */
export async function befriend(
  store: Pick<Store, "db">,
  a: string,
  b: string,
  sessions?: Pick<SessionStore, "bumpListTokens">,
): Promise<void> {
  const db = rosterDb(store);
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    await db
      .insertInto("roster_contacts")
      .values({ owner: x, contact: y, nickname: null })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await db
      .insertInto("roster_approvals")
      .values({ owner: x, watcher: y })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  await sessions?.bumpListTokens([a, b]);
}

/** `owner` blocks `address`. */
export async function block(
  store: Pick<Store, "db">,
  owner: string,
  address: string,
  sessions?: Pick<SessionStore, "bumpListTokens">,
): Promise<void> {
  await rosterDb(store).insertInto("roster_block").values({ owner, address }).execute();
  await sessions?.bumpListTokens([owner, address]);
}
