import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeAddress } from "./address.js";

test("addresses: case-insensitive names, the server's own domain only, ASCII only", () => {
  const cases: Array<[string, string | undefined]> = [
    ["Arthur", "arthur"],
    ["arthur@Example.ORG", "arthur"],
    ["a.b_c-d9", "a.b_c-d9"],
    ["x".repeat(64), "x".repeat(64)],
    ["x".repeat(65), undefined],
    ["", undefined],
    ["arthur@other.org", undefined],
    ["arthur@", undefined],
    ["@example.org", undefined],
    ["art hur", undefined],
    ["\u212Aelvin", undefined], // KELVIN SIGN would lower-case to "k"
    ["arthur@example.org@example.org", undefined],
  ];
  for (const [input, want] of cases) assert.equal(normalizeAddress(input, "example.org"), want, input);
  assert.equal(normalizeAddress("arthur@example.org", ""), undefined);
});
