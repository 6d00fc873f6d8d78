import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isCanonicalAccountName, normalizeAccountName } from "./names.js";

describe("normalizeAccountName", () => {
  test("lower-cases valid names", () => {
    assert.equal(normalizeAccountName("alice"), "alice");
    assert.equal(normalizeAccountName("Alice"), "alice");
    assert.equal(normalizeAccountName("A.B_C-9"), "a.b_c-9");
    assert.equal(normalizeAccountName("x"), "x");
    assert.equal(normalizeAccountName("Z".repeat(64)), "z".repeat(64));
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
      assert.equal(normalizeAccountName(bad), undefined, JSON.stringify(bad));
    }
  });

  test("rejects every non-ASCII character, including ones that lower-case to ASCII", () => {
    // U+212A KELVIN SIGN lower-cases to "k"; U+0130 to "i̇"; full-width letters look alike.
    for (const bad of ["\u212Aelvin", "\u0130stanbul", "ｂｏｂ", "bob\u200B", "ünï", "😀", "ａlice"]) {
      assert.equal(normalizeAccountName(bad), undefined, JSON.stringify(bad));
      assert.equal(normalizeAccountName(`${bad}@example.com`, "example.com"), undefined);
    }
  });

  test("accepts name@domain only for the server's own domain, case-insensitively", () => {
    assert.equal(normalizeAccountName("Bob@Example.COM", "example.com"), "bob");
    assert.equal(normalizeAccountName("bob@example.com", "EXAMPLE.com"), "bob");
    assert.equal(normalizeAccountName("bob@example.com"), undefined, "no domain configured");
    assert.equal(normalizeAccountName("bob@example.com", ""), undefined);
    assert.equal(normalizeAccountName("bob@other.com", "example.com"), undefined);
    assert.equal(normalizeAccountName("bob@example.com.evil", "example.com"), undefined);
    assert.equal(normalizeAccountName("@example.com", "example.com"), undefined);
    assert.equal(normalizeAccountName("bob@", "example.com"), undefined);
    assert.equal(normalizeAccountName("bob@a@example.com", "example.com"), undefined);
    assert.equal(normalizeAccountName("bob@example.com@example.com", "example.com"), undefined);
    assert.equal(normalizeAccountName(`${"b".repeat(65)}@example.com`, "example.com"), undefined);
  });

  test("refuses huge input without scanning it", () => {
    assert.equal(normalizeAccountName("a".repeat(1_000_000)), undefined);
  });

  test("ignores non-string input from untyped callers", () => {
    assert.equal(normalizeAccountName(undefined as unknown as string), undefined);
    assert.equal(normalizeAccountName(42 as unknown as string), undefined);
  });

  test("its output is canonical and a fixed point", () => {
    for (const input of ["Alice", "a.B", "Q-9_z", "bob@Example.com"]) {
      const out = normalizeAccountName(input, "example.com");
      assert.ok(out !== undefined);
      assert.ok(isCanonicalAccountName(out));
      assert.equal(normalizeAccountName(out), out);
    }
    assert.equal(isCanonicalAccountName("Alice"), false);
  });
});
