// The avatar repository on a real database: avatars.test.ts runs it on PGlite, avatars.dist.test.ts
// on Postgres.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import { seedAccounts } from "@impp/roster/testing";
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { Avatars, sha1Of } from "./avatars.js";
import { avatarMigrations } from "./tables.js";
import { fakePng, GIF } from "./testing-images.js";

const FUTURE = () => new Date(Date.now() + 60_000);

export function runAvatarsSuite(name: string, make: () => Promise<Store>): void {
  describe(`avatar repository: ${name}`, () => {
    let store: Store;
    let avatars: Avatars;

    before(async () => {
      store = await make();
      await store.migrate(accountsMigrations);
      const r = await store.migrate(avatarMigrations);
      assert.deepEqual(r.applied, ["0001_avatars"]);
      await seedAccounts(store, ["ann", "bea", "cid", "dot", "eve"]);
      avatars = new Avatars(store);
    });
    after(() => store.close());

    test("content-addressed: the same image uploaded by two users is stored once", async () => {
      const before = await avatars.count();
      const a = await avatars.upload(GIF);
      const b = await avatars.upload(Buffer.from(GIF));
      assert.deepEqual(a, b);
      assert.deepEqual(a, sha1Of(GIF));
      assert.equal(a.toString("hex"), "2daeaa8b5f19f0bc209d976c02bd6acb51b00b0a", "the fixture's hash");
      assert.equal(await avatars.count(), before + 1);
      assert.deepEqual(await avatars.get(a), GIF);
      assert.ok(await avatars.set("ann", a));
      assert.ok(await avatars.set("bea", a));
      assert.equal(await avatars.users(a), 2);
    });

    test("set: unknown hash refused; clearing; changing", async () => {
      const unknown = sha1Of(Buffer.from("never uploaded"));
      assert.equal(await avatars.set("cid", unknown), false);
      assert.equal(await avatars.current("cid"), undefined);
      const one = await avatars.upload(fakePng());
      const two = await avatars.upload(fakePng());
      assert.ok(await avatars.set("cid", one));
      assert.ok(await avatars.set("cid", two));
      assert.deepEqual(await avatars.current("cid"), two);
      assert.ok(await avatars.set("cid", undefined));
      assert.equal(await avatars.current("cid"), undefined);
      assert.equal(await avatars.get(unknown), undefined);
    });

    test("the sweep removes images nobody shows, never one in use, and spares recent uploads", async () => {
      const used = await avatars.upload(fakePng());
      const dropped = await avatars.upload(fakePng());
      const fresh = await avatars.upload(fakePng());
      assert.ok(await avatars.set("dot", used));
      assert.ok(await avatars.set("eve", dropped));
      assert.ok(await avatars.set("eve", undefined));
      // Only images uploaded before the cut go: `fresh` is made older than the cut last.
      await sql`UPDATE avatar_images SET uploaded_at = now() - interval '2 hours' WHERE sha1 <> ${fresh}`.execute(
        store.db,
      );
      const removed = await avatars.sweep(new Date(Date.now() - 3600_000));
      assert.ok(removed.some((s) => s.equals(dropped)));
      assert.ok(!removed.some((s) => s.equals(used) || s.equals(fresh)));
      assert.equal(await avatars.get(dropped), undefined);
      assert.ok(await avatars.get(used));
      assert.ok(await avatars.get(fresh), "uploaded within the grace period");
      // Whatever anyone shows survives any sweep.
      await avatars.sweep(FUTURE());
      assert.ok(await avatars.get(used));
      assert.deepEqual(await avatars.current("dot"), used);
      assert.equal(await avatars.get(fresh), undefined, "unused and no longer recent");
      // A swept image is unknown to SET.
      assert.equal(await avatars.set("eve", dropped), false);
    });

    test("a removed account stops showing its avatar (cascade), and the image may then be swept", async () => {
      await seedAccounts(store, ["gone"]);
      const img = await avatars.upload(fakePng());
      assert.ok(await avatars.set("gone", img));
      await sql`DELETE FROM accounts WHERE name = 'gone'`.execute(store.db);
      assert.equal(await avatars.users(img), 0);
      const removed = await avatars.sweep(FUTURE());
      assert.ok(removed.some((s) => s.equals(img)));
    });

    test("SET racing the sweep: the image is either kept in use or refused, never lost while shown", async () => {
      for (let i = 0; i < 10; i++) {
        const img = await avatars.upload(fakePng());
        const [ok] = await Promise.all([avatars.set("ann", img), avatars.sweep(FUTURE())]);
        if (ok) {
          assert.ok(await avatars.get(img), "shown, so still there");
          assert.deepEqual(await avatars.current("ann"), img);
        } else {
          assert.equal(await avatars.get(img), undefined);
        }
      }
    });
  });
}
