import assert from "node:assert/strict";
import { test } from "node:test";
import { migrations } from "./migrations.js";

test("migrations are uniquely named NNNN_what and listed in the order Kysely will sort them", () => {
  assert.ok(migrations.length > 0);
  const names = migrations.map((m) => m.name);
  for (const n of names) assert.match(n, /^\d{4}_[a-z0-9_]+$/);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names, [...names].sort());
});
