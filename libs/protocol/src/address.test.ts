import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isCanonicalAccountName, normalizeAddress } from "./address.js";

describe("normalizeAddress", () => {
  test("lower-cases valid names", () => {
    assert.equal(normalizeAddress("alice"), "alice");
    assert.equal(normalizeAddress("Alice"), "alice");
    assert.equal(normalizeAddress("A.B_C-9"), "a.b_c-9");
    assert.equal(normalizeAddress("x"), "x");
    assert.equal(normalizeAddress("Z".repeat(64)), "z".repeat(64));
  });

  test("rejects empty, too long, and characters outside a-z 0-9 . _ -", () => {
    for (const bad of [
      "",
      "a".repeat(65),
      "al ice",
      " alice",
      "alice\n",
      "a/b",
      "a+b",
      "a:b",
      "a%b",
      "a\u0000b",
    ]) {
      assert.equal(normalizeAddress(bad), undefined, JSON.stringify(bad));
    }
  });

  test("rejects every non-ASCII character, including ones that lower-case to ASCII", () => {
    // U+212A KELVIN SIGN lower-cases to "k"; U+0130 to "i̇"; full-width letters look alike.
    for (const bad of ["\u212Aelvin", "\u0130stanbul", "ｂｏｂ", "bob\u200B", "ünï", "😀", "ａlice"]) {
      assert.equal(normalizeAddress(bad), undefined, JSON.stringify(bad));
      assert.equal(normalizeAddress(`${bad}@example.com`, "example.com"), undefined);
    }
  });

  test("accepts name@domain only for the server's own domain, case-insensitively", () => {
    assert.equal(normalizeAddress("Bob@Example.COM", "example.com"), "bob");
    assert.equal(normalizeAddress("bob@example.com", "EXAMPLE.com"), "bob");
    assert.equal(normalizeAddress("bob@example.com"), undefined, "no domain configured");
    assert.equal(normalizeAddress("bob@example.com", ""), undefined);
    assert.equal(normalizeAddress("bob@other.com", "example.com"), undefined);
    assert.equal(normalizeAddress("bob@example.com.evil", "example.com"), undefined);
    assert.equal(normalizeAddress("@example.com", "example.com"), undefined);
    assert.equal(normalizeAddress("bob@", "example.com"), undefined);
    assert.equal(normalizeAddress("bob@a@example.com", "example.com"), undefined);
    assert.equal(normalizeAddress("bob@example.com@example.com", "example.com"), undefined);
    assert.equal(normalizeAddress(`${"b".repeat(65)}@example.com`, "example.com"), undefined);
  });

  test("refuses huge input without scanning it", () => {
    assert.equal(normalizeAddress("a".repeat(1_000_000)), undefined);
  });

  test("ignores non-string input from untyped callers", () => {
    assert.equal(normalizeAddress(undefined as unknown as string), undefined);
    assert.equal(normalizeAddress(42 as unknown as string), undefined);
  });

  test("its output is canonical and a fixed point", () => {
    for (const input of ["Alice", "a.B", "Q-9_z", "bob@Example.com"]) {
      const out = normalizeAddress(input, "example.com");
      assert.ok(out !== undefined);
      assert.ok(isCanonicalAccountName(out));
      assert.equal(normalizeAddress(out), out);
    }
    assert.equal(isCanonicalAccountName("Alice"), false);
  });
});

test("normalizeAddress: addresses: case-insensitive names, the server's own domain only, ASCII only", () => {
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
