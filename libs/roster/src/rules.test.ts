import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import { Status } from "@impp/protocol";
import { createMemorySessionStore } from "@impp/sessions";
import { openStore } from "@impp/store";
import { type Relations, RelationsCache } from "./relations.js";
import { advertise, type DeviceState, fingerprint, viewAsWatcher, viewFor } from "./rules.js";
import { rosterMigrations } from "./tables.js";
import { befriend, block, seedAccounts } from "./testing.js";

const dev = (over: Partial<DeviceState> = {}): DeviceState => ({
  status: Status.ONLINE,
  isIdle: false,
  isMobile: false,
  capabilities: [1],
  ...over,
});

describe("intelligent presence (§4.5)", () => {
  test("no device is OFFLINE; ONLINE with a desk device; MOBILE when only mobiles are awake; AWAY (automatic) when all idle", () => {
    assert.equal(advertise({ status: Status.ONLINE }, []).status, Status.OFFLINE);
    assert.equal(
      advertise({ status: Status.ONLINE }, [dev(), dev({ isMobile: true })]).status,
      Status.ONLINE,
    );
    assert.equal(
      advertise({ status: Status.ONLINE }, [dev({ isMobile: true }), dev({ isIdle: true })]).status,
      Status.MOBILE,
    );
    const idle = advertise({ status: Status.ONLINE }, [
      dev({ isIdle: true }),
      dev({ isIdle: true, isMobile: true }),
    ]);
    assert.equal(idle.status, Status.AWAY);
    assert.equal(idle.isStatusAutomatic, true);
  });

  test("AWAY and DND as set; INVISIBLE seen through is computed, and is INVISIBLE to the user's own devices", () => {
    assert.equal(advertise({ status: Status.DND }, [dev()]).status, Status.DND);
    assert.equal(advertise({ status: Status.AWAY, statusMessage: "lunch" }, [dev()]).statusMessage, "lunch");
    assert.equal(
      advertise({ status: Status.INVISIBLE }, [dev({ isMobile: true })], "visible").status,
      Status.MOBILE,
    );
    assert.equal(advertise({ status: Status.INVISIBLE }, [dev()], "self").status, Status.INVISIBLE);
    assert.deepEqual(
      advertise(undefined, [dev({ capabilities: [2, 1] }), dev({ capabilities: [1, 7] })]).capabilities,
      [1, 2, 7],
    );
  });

  test("the fingerprint changes with what watchers see, not otherwise", () => {
    const a = advertise({ status: Status.ONLINE }, [dev()]);
    assert.equal(
      fingerprint(a, false),
      fingerprint(advertise({ status: Status.ONLINE }, [dev(), dev()]), false),
    );
    assert.notEqual(fingerprint(a, false), fingerprint(a, true));
    assert.notEqual(fingerprint(a, false), fingerprint(advertise({ status: Status.DND }, [dev()]), false));
  });
});

describe("who sees what", () => {
  test("approved and unblocked watchers see; the invisible show only to their allow list", async () => {
    const store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    await store.migrate(rosterMigrations);
    await seedAccounts(store, ["ann", "bea", "cid"]);
    await befriend(store, "ann", "bea");
    await befriend(store, "ann", "cid");
    await block(store, "cid", "ann");
    const sessions = createMemorySessionStore();
    const cache = new RelationsCache(store);
    const get = async (who: string): Promise<Relations> =>
      (await cache.get([who], await sessions.listTokens([who])))[0]!;
    const ann = await get("ann");
    const online = { status: Status.ONLINE };
    assert.equal(viewFor(ann, online, [dev()], "bea").status, Status.ONLINE);
    assert.equal(
      viewFor(ann, online, [dev()], "cid").status,
      Status.OFFLINE,
      "cid blocks ann: neither sees the other",
    );
    assert.equal(viewFor(ann, online, [dev()], "nobody").status, Status.OFFLINE);
    assert.equal(viewFor(ann, { status: Status.INVISIBLE }, [dev()], "bea").status, Status.OFFLINE);
    await store.db.insertInto("roster_allow").values({ owner: "ann", address: "bea" }).execute();
    // Cached under the old token: unchanged until the token moves.
    assert.equal((await get("ann")).allow.has("bea"), false);
    await sessions.bumpListTokens(["ann", "bea"]);
    const ann2 = await get("ann");
    assert.equal(viewFor(ann2, { status: Status.INVISIBLE }, [dev()], "bea").status, Status.ONLINE);
    const bea = await get("bea");
    assert.equal(viewAsWatcher(bea, "ann", { status: Status.INVISIBLE }, [dev()]).status, Status.ONLINE);
    assert.equal(cache.loads, 3, "ann, ann after the bump, bea — the second read of ann was a hit");
    await store.close();
  });
});
