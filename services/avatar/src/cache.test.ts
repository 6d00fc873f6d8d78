import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteLru } from "./cache.js";

const buf = (n: number) => Buffer.alloc(n, 1);

test("bounded by bytes: the least recently used go first, an entry over the bound is not kept", () => {
  const c = new ByteLru({ maxBytes: 100 });
  c.set("a", buf(40));
  c.set("b", buf(40));
  assert.equal(c.bytes, 80);
  c.peek("a"); // a is now the most recent
  c.set("c", buf(40));
  assert.equal(c.peek("b"), undefined, "b was the least recently used");
  assert.ok(c.peek("a") !== undefined && c.peek("c") !== undefined);
  assert.equal(c.bytes, 80);
  c.set("huge", buf(101));
  assert.equal(c.peek("huge"), undefined);
  assert.equal(c.bytes, 80);
  c.set("a", buf(10));
  assert.equal(c.bytes, 50, "replacing a value counts its new size");
  c.delete("a");
  c.delete("a");
  assert.equal(c.bytes, 40);
  assert.ok(c.bytes <= 100);
});

test("concurrent misses share one load; a miss that finds nothing is not cached; a failed load is retried", async () => {
  const c = new ByteLru({ maxBytes: 1000 });
  let loads = 0;
  const load = async () => {
    loads++;
    await new Promise((r) => setTimeout(r, 5));
    return buf(10);
  };
  const got = await Promise.all(Array.from({ length: 50 }, () => c.get("k", load)));
  assert.equal(loads, 1);
  assert.ok(got.every((g) => g?.length === 10));
  await c.get("k", load);
  assert.equal(loads, 1, "then a hit");
  assert.equal(await c.get("none", async () => undefined), undefined);
  assert.equal(c.peek("none"), undefined);
  await assert.rejects(
    c.get("bad", async () => {
      throw new Error("db down");
    }),
  );
  assert.equal((await c.get("bad", async () => buf(3)))?.length, 3);
});

test("a zero bound caches nothing", async () => {
  const c = new ByteLru({ maxBytes: 0 });
  c.set("a", buf(1));
  assert.equal(c.size, 0);
  let loads = 0;
  const load = async () => {
    loads++;
    return buf(1);
  };
  await c.get("a", load);
  await c.get("a", load);
  assert.equal(loads, 2);
});
