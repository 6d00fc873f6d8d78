import assert from "node:assert/strict";
import { test } from "node:test";
import { PerKey } from "./order.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("one key runs one at a time in queue order; other keys run alongside; a failure does not stop the queue", async () => {
  const q = new PerKey();
  const log: string[] = [];
  const step = (key: string, i: number, ms: number, fail = false) =>
    q.run(key, async () => {
      log.push(`${key}${i}+`);
      await sleep(ms);
      log.push(`${key}${i}-`);
      if (fail) throw new Error("boom");
      return i;
    });
  const results = await Promise.allSettled([
    step("a", 1, 20),
    step("a", 2, 1, true),
    step("a", 3, 1),
    step("b", 1, 5),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled", "fulfilled"],
  );
  const a = log.filter((l) => l.startsWith("a"));
  assert.deepEqual(a, ["a1+", "a1-", "a2+", "a2-", "a3+", "a3-"]);
  assert.ok(log.indexOf("b1-") < log.indexOf("a1-"), "b did not wait for a");
  await sleep(0);
  assert.equal(q.size, 0, "nothing kept once idle");
});
