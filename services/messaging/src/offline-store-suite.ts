// The offline store on every backend (PGlite in memory, Postgres): offline-store.test.ts and
// offline-store.dist.test.ts run this one suite.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { accountsMigrations, createAccountsRepository } from "@impp/auth";
import type { Store } from "@impp/store";
import { createOffline } from "./offline.js";
import {
  createOfflineRepository,
  type OfflineMessage,
  type OfflineRepository,
  offlineMigrations,
} from "./offline-store.js";

const LIMITS = { maxMessages: 1000, maxBytes: 1024 * 1024 };
const T0 = 1_700_000_000_000;

function msg(over: Partial<OfflineMessage> = {}): OfflineMessage {
  const chunk = over.chunk ?? Buffer.from("hello");
  return {
    from: "tricia",
    to: "arthur",
    capability: 1,
    messageId: Buffer.from([1, 2, 3, 4]),
    messageSize: chunk.length,
    chunk,
    createdAt: Buffer.from([0, 0, 1, 2, 3, 4, 5, 6]),
    timestamp: T0,
    ...over,
  };
}

let nextId = 1;
const freshId = () => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(nextId++);
  return b;
};

/** `make` must return a freshly opened store on an empty database. */
export function runOfflineStoreSuite(name: string, make: () => Promise<Store>): void {
  describe(`offline store: ${name}`, () => {
    let store: Store;
    let repo: OfflineRepository;
    const store1 = async (m: OfflineMessage, limits = LIMITS) => (await repo.storeMany([m], limits))[0]!;

    before(async () => {
      store = await make();
      await store.migrate(accountsMigrations);
      const report = await store.migrate(offlineMigrations);
      assert.deepEqual(report.applied, ["0001_offline_messages"]);
      const accounts = createAccountsRepository(store);
      for (const n of ["arthur", "tricia", "zaphod", "marvin", "ford", "trillian", "slarti"]) {
        await accounts.create(n, "h");
      }
      repo = createOfflineRepository(store);
    });
    after(async () => {
      await store?.close();
    });

    test("stored messages come back oldest first with every field, filtered by capability", async () => {
      const a = await store1(msg({ timestamp: T0 + 10 }));
      const b = await store1(msg({ messageId: freshId(), capability: 0x4001, chunk: Buffer.from("ink") }));
      const c = await store1(
        msg({
          messageId: freshId(),
          from: "zaphod",
          chunk: undefined,
          messageSize: undefined,
          createdAt: undefined,
        }),
      );
      assert.ok(a.ok && b.ok && c.ok);
      assert.equal(a.timestamp, T0 + 10);
      // Receipt times that are not newer than the last stored one are moved up: unique, increasing.
      assert.equal(b.timestamp, T0 + 11);
      assert.equal(c.timestamp, T0 + 12);

      const im = await repo.page("arthur", [1], 0, 100);
      assert.deepEqual(
        im.map((m) => [m.from, m.timestamp]),
        [
          ["tricia", T0 + 10],
          ["zaphod", T0 + 12],
        ],
      );
      const first = im[0]!;
      assert.deepEqual(first.messageId, Buffer.from([1, 2, 3, 4]));
      assert.equal(first.to, "arthur");
      assert.equal(first.capability, 1);
      assert.equal(first.messageSize, 5);
      assert.equal(first.chunk?.toString(), "hello");
      assert.deepEqual(first.createdAt, Buffer.from([0, 0, 1, 2, 3, 4, 5, 6]));
      const bare = im[1]!;
      assert.deepEqual([bare.chunk, bare.messageSize, bare.createdAt], [undefined, undefined, undefined]);

      assert.deepEqual(
        (await repo.page("arthur", [1, 0x4001], 0, 100)).map((m) => m.capability),
        [1, 0x4001, 1],
      );
      assert.deepEqual(
        await repo.page("arthur", [], 0, 100),
        [],
        "a device with no capabilities gets nothing",
      );
      assert.deepEqual(
        (await repo.page("arthur", [1, 0x4001], T0 + 10, 1)).map((m) => m.timestamp),
        [T0 + 11],
        "after and limit page through",
      );
      assert.deepEqual(await repo.usage("arthur"), { messages: 3, bytes: 8 });
    });

    test("delete removes TIMESTAMP ≤ the given one of the given capabilities only, and keeps the ledger", async () => {
      assert.equal(await repo.delete("arthur", [1], T0 + 11), 1);
      assert.deepEqual(
        (await repo.page("arthur", [1, 0x4001], 0, 100)).map((m) => m.timestamp),
        [T0 + 11, T0 + 12],
      );
      assert.equal(await repo.delete("arthur", [0x4001], T0 + 100), 1);
      assert.equal(await repo.delete("arthur", [1], T0 + 100), 1);
      assert.equal(await repo.delete("arthur", [1], T0 + 100), 0);
      assert.equal(await repo.delete("nobody", [1], T0 + 100), 0);
      assert.deepEqual(await repo.usage("arthur"), { messages: 0, bytes: 0 });
      // The ledger remembers the last TIMESTAMP: a later message never reuses an old one.
      const again = await store1(msg({ messageId: freshId(), timestamp: T0 }));
      assert.ok(again.ok);
      assert.equal(again.timestamp, T0 + 13);
      assert.equal(await repo.delete("arthur", [1], again.timestamp), 1);
    });

    test("a recipient that does not exist is no_account, and nothing is stored", async () => {
      assert.deepEqual(await store1(msg({ to: "nosuchuser" })), { ok: false, reason: "no_account" });
      assert.deepEqual(await repo.usage("nosuchuser"), { messages: 0, bytes: 0 });
    });

    test("past the per-recipient caps a message is refused and nothing old is dropped", async () => {
      const limits = { maxMessages: 3, maxBytes: 12 };
      for (let i = 0; i < 3; i++) {
        const r = await store1(
          msg({ to: "zaphod", messageId: freshId(), chunk: Buffer.from("abc") }),
          limits,
        );
        assert.ok(r.ok);
      }
      assert.deepEqual(await store1(msg({ to: "zaphod", messageId: freshId() }), limits), {
        ok: false,
        reason: "full",
      });
      assert.equal((await repo.page("zaphod", [1], 0, 100)).length, 3);
      const first = (await repo.page("zaphod", [1], 0, 1))[0]!;
      assert.equal(await repo.delete("zaphod", [1], first.timestamp), 1);
      // Bytes: 2 × 3 stored, 7 more is 13 > 12.
      assert.deepEqual(
        await store1(msg({ to: "zaphod", messageId: freshId(), chunk: Buffer.from("1234567") }), limits),
        { ok: false, reason: "full" },
      );
      assert.ok(
        (await store1(msg({ to: "zaphod", messageId: freshId(), chunk: Buffer.from("123456") }), limits)).ok,
      );
    });

    test("a resend of the same MESSAGE_ID is stored once; the chunks of a long message are each stored", async () => {
      const id = freshId();
      const one = await store1(msg({ to: "marvin", messageId: id, chunk: Buffer.from("once") }));
      const two = await store1(
        msg({ to: "marvin", messageId: id, chunk: Buffer.from("once"), timestamp: T0 + 500 }),
      );
      assert.ok(one.ok && two.ok);
      assert.equal(two.duplicate, true);
      assert.equal(two.timestamp, one.timestamp, "the resend is answered with the stored copy's TIMESTAMP");
      assert.equal((await repo.page("marvin", [1], 0, 100)).length, 1);

      // A 12-byte message in three chunks, the last one resent, and the same chunk text twice.
      const long = freshId();
      const parts = ["abcd", "abcd", "wxyz"].map((s) => Buffer.from(s));
      for (const chunk of parts) {
        const r = await store1(msg({ to: "marvin", messageId: long, chunk, messageSize: 12 }));
        assert.ok(r.ok && !r.duplicate, chunk.toString());
      }
      const resent = await store1(msg({ to: "marvin", messageId: long, chunk: parts[2]!, messageSize: 12 }));
      assert.ok(resent.ok && resent.duplicate);
      const stored = (await repo.page("marvin", [1], 0, 100)).filter((m) => m.messageId.equals(long));
      assert.deepEqual(
        stored.map((m) => m.chunk?.toString()),
        ["abcd", "abcd", "wxyz"],
      );
      // The same MESSAGE_ID from another sender is another message.
      const other = await store1(
        msg({ to: "marvin", from: "zaphod", messageId: id, chunk: Buffer.from("once") }),
      );
      assert.ok(other.ok && !other.duplicate);
      // Once deleted, the window is over: the same id is a new message.
      assert.equal(await repo.delete("marvin", [1], T0 + 1_000_000), 5);
      const later = await store1(msg({ to: "marvin", messageId: id, chunk: Buffer.from("once") }));
      assert.ok(later.ok && !later.duplicate);
    });

    test("concurrent stores through the group-commit batcher: all stored, TIMESTAMPs unique and in commit order", async () => {
      const offline = createOffline(repo, LIMITS, { maxBatch: 16, concurrency: 2 });
      const results = await Promise.all(
        Array.from({ length: 120 }, (_, i) =>
          offline.store(msg({ to: i % 2 === 0 ? "ford" : "trillian", messageId: freshId(), timestamp: T0 })),
        ),
      );
      assert.ok(results.every((r) => r.ok && !r.duplicate));
      for (const who of ["ford", "trillian"]) {
        const got = await repo.page(who, [1], 0, 1000);
        assert.equal(got.length, 60);
        const ts = got.map((m) => m.timestamp);
        assert.deepEqual(
          ts,
          [...new Set(ts)].sort((a, b) => a - b),
        );
      }
      // A batch with a missing recipient still stores the others.
      const mixed = await repo.storeMany(
        [
          msg({ to: "ford", messageId: freshId() }),
          msg({ to: "ghost" }),
          msg({ to: "trillian", messageId: freshId() }),
        ],
        LIMITS,
      );
      assert.deepEqual(
        mixed.map((r) => r.ok),
        [true, false, true],
      );
      await offline.settle();
    });

    test("retention deletes what is older than the cutoff and keeps the ledger right", async () => {
      const now = Date.now();
      await store1(msg({ to: "slarti", messageId: freshId(), timestamp: now - 10 * 86_400_000 }));
      await store1(msg({ to: "slarti", messageId: freshId(), timestamp: now }));
      const purged = await repo.purgeOlderThan(now - 86_400_000);
      assert.ok(purged >= 1);
      assert.deepEqual(
        (await repo.page("slarti", [1], 0, 10)).map((m) => m.timestamp),
        [now],
      );
      assert.equal((await repo.usage("slarti")).messages, 1);
    });

    test("removing the account removes its stored messages (ON DELETE CASCADE)", async () => {
      await store1(msg({ to: "slarti", messageId: freshId() }));
      assert.equal(await createAccountsRepository(store).remove("slarti"), true);
      assert.deepEqual(await repo.page("slarti", [1], 0, 10), []);
      assert.deepEqual(await repo.usage("slarti"), { messages: 0, bytes: 0 });
    });
  });
}
