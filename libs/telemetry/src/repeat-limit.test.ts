import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import { RepeatLimiter } from "./repeat-limit.js";

function capture(level = "info") {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: pino({ level }, dest) };
}

test("at most N lines per kind per window, then one summary with the count left out", async () => {
  const { lines, logger } = capture();
  let now = 1_000_000;
  const limiter = new RepeatLimiter(logger, { perWindow: 3, windowMs: 60_000, now: () => now });
  for (let i = 0; i < 10; i++) limiter.log("info", "login-failed", { account: `u${i}` }, "login failed");
  limiter.log("info", "connection-refused:max_connections", {}, "connection refused");
  await tick();
  assert.deepEqual(
    lines.map((l) => [l.msg, l.account]),
    [
      ["login failed", "u0"],
      ["login failed", "u1"],
      ["login failed", "u2"],
      ["connection refused", undefined],
    ],
    "other kinds have their own share",
  );
  now += 60_000;
  limiter.log("info", "login-failed", { account: "late" }, "login failed");
  await tick();
  const summary = lines[4]!;
  assert.equal(summary.kind, "login-failed");
  assert.equal(summary.suppressed, 7);
  assert.match(String(summary.msg), /7 more "login-failed" line\(s\) left out/);
  assert.equal(lines[5]!.account, "late", "a new window writes again");
  limiter.close();
});

test("close() writes the summaries of windows still open; a kind never over the limit gets none", async () => {
  const { lines, logger } = capture();
  const limiter = new RepeatLimiter(logger, { perWindow: 1, now: () => 5 });
  limiter.log("warn", "a", {}, "A");
  limiter.log("warn", "a", {}, "A");
  limiter.log("info", "b", {}, "B");
  limiter.close();
  await tick();
  assert.deepEqual(
    lines.map((l) => l.msg),
    ["A", "B", '1 more "a" line(s) left out (over 1 per 60 s)'],
  );
  assert.equal(lines[2]!.level, 40, "the summary has the level of the lines it stands for");
});

test("nothing is counted or written below the logger's level", async () => {
  const { lines, logger } = capture("warn");
  const limiter = new RepeatLimiter(logger, { perWindow: 1 });
  for (let i = 0; i < 5; i++) limiter.log("info", "x", {}, "x");
  limiter.close();
  await tick();
  assert.equal(lines.length, 0);
});

const tick = () => new Promise((r) => setImmediate(r));
