import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GlobalError, ImError, TlvBlock, TlvWriter } from "@impp/protocol";
import fc from "fast-check";
import { RequestFailure } from "./request.js";
import { checkShape, compileShape, type Shape } from "./schema.js";

const ctx = { domain: "example.org" };
const IM = 4;

const shape = {
  to: { tlv: 2, kind: "address", required: true },
  capability: {
    tlv: 3,
    kind: "u16",
    required: true,
    min: 1,
    max: 0x7fff,
    invalid: ImError.INVALID_CAPABILITY,
  },
  id: { tlv: 4, kind: "bytes", required: true, minBytes: 1, maxBytes: 16 },
  size: { tlv: 5, kind: "u32", max: 1024 },
  chunk: { tlv: 6, kind: "bytes", maxBytes: 8 },
  created: { tlv: 7, kind: "bytes", length: 8 },
  stamp: { tlv: 8, kind: "u64" },
  nick: { tlv: 9, kind: "string", maxBytes: 40, maxChars: 4 },
  idle: { tlv: 10, kind: "flag" },
  caps: { tlv: 11, kind: "u16list", min: 1, max: 100, maxItems: 3 },
  members: { tlv: 12, kind: "address", repeated: true, maxItems: 3 },
  tuple: { tlv: 13, kind: "block" },
  pass: { tlv: 14, also: [0x4001], kind: "bytes" },
  level: { tlv: 15, kind: "u8", max: 2 },
} as const satisfies Shape;

const parse = compileShape(shape);

function base(): TlvWriter {
  return new TlvWriter()
    .string(2, "Arthur@Example.org")
    .u16(3, 1)
    .bytes(4, Buffer.from([1, 2]));
}

function code(w: TlvWriter): number {
  const r = parse(w.finish(), IM, ctx);
  assert.ok(r instanceof RequestFailure, "expected a failure");
  return r.code;
}

describe("declared request shapes", () => {
  test("a valid block becomes a typed object; absent optional fields are undefined, repeated ones []", () => {
    const r = parse(base().finish(), IM, ctx);
    assert.ok(!(r instanceof RequestFailure), String(r));
    assert.equal(r.to, "arthur", "addresses are canonical");
    assert.equal(r.capability, 1);
    assert.deepEqual([...r.id], [1, 2]);
    assert.equal(r.size, undefined);
    assert.deepEqual(r.members, []);
    assert.equal(r.pass, undefined);
  });

  test("every kind is read: numbers, flags, lists (deduplicated), repeated, nested, alternative numbers", () => {
    const w = base()
      .u32(5, 1024)
      .bytes(6, Buffer.from("12345678"))
      .u64(7, 1_700_000_000_000)
      .u64(8, 2 ** 53 - 1)
      .string(9, "ünïc")
      .u8(10, 7)
      .u16list(11, [5, 5, 6])
      .string(12, "ford")
      .string(12, "Zaphod")
      .nested(13, new TlvWriter().string(1, "inner"))
      .bytes(0x4001, Buffer.from("pw"))
      .u8(15, 2)
      .string(99, "unknown TLVs are ignored");
    const r = parse(w.finish(), IM, ctx);
    assert.ok(!(r instanceof RequestFailure), String(r));
    assert.equal(r.size, 1024);
    assert.equal(r.created?.length, 8);
    assert.equal(r.stamp, 2 ** 53 - 1);
    assert.equal(r.nick, "ünïc");
    assert.equal(r.idle, true);
    assert.deepEqual(r.caps, [5, 6]);
    assert.deepEqual(r.members, ["ford", "zaphod"]);
    assert.ok(r.tuple instanceof TlvBlock);
    assert.equal(r.tuple.string(1), "inner");
    assert.equal(r.pass?.toString(), "pw");
    assert.equal(r.level, 2);
  });

  test("missing required → INVALID_TLV_VALUE; the first problem in declaration order is the one answered", () => {
    assert.equal(code(new TlvWriter().u16(3, 1).bytes(4, Buffer.from([1]))), GlobalError.INVALID_TLV_VALUE);
    // Both TO and CAPABILITY are bad: TO is declared first.
    assert.equal(
      code(
        new TlvWriter()
          .string(2, "a b")
          .u16(3, 0)
          .bytes(4, Buffer.from([1])),
      ),
      6,
    );
    assert.equal(
      code(
        new TlvWriter()
          .string(2, "a")
          .u16(3, 0)
          .bytes(4, Buffer.from([1])),
      ),
      ImError.INVALID_CAPABILITY,
    );
  });

  test("limits: the field's own code or INVALID_TLV_VALUE; a bad fixed size INVALID_TLV_LENGTH", () => {
    const V = GlobalError.INVALID_TLV_VALUE;
    const L = GlobalError.INVALID_TLV_LENGTH;
    const cases: Array<[string, TlvWriter, number]> = [
      [
        "address of another domain",
        new TlvWriter()
          .string(2, "a@other.org")
          .u16(3, 1)
          .bytes(4, Buffer.from([1])),
        V,
      ],
      ["id empty", new TlvWriter().string(2, "a").u16(3, 1).bytes(4, Buffer.alloc(0)), V],
      ["id too long", new TlvWriter().string(2, "a").u16(3, 1).bytes(4, Buffer.alloc(17)), V],
      ["size over max", base().u32(5, 1025), V],
      ["size of 3 bytes", base().bytes(5, Buffer.alloc(3)), L],
      ["chunk over maxBytes", base().bytes(6, Buffer.alloc(9)), V],
      ["created of 7 bytes", base().bytes(7, Buffer.alloc(7)), L],
      ["u64 over 2^53", base().bytes(8, Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0])), V],
      ["string over maxChars", base().string(9, "abcde"), V],
      ["string over maxBytes", base().string(9, "é".repeat(21)), V],
      ["invalid UTF-8", base().bytes(9, Buffer.from([0xc3, 0x28])), V],
      ["flag of 2 bytes", base().bytes(10, Buffer.alloc(2)), L],
      ["list of odd length", base().bytes(11, Buffer.alloc(3)), L],
      ["list value over max", base().u16list(11, [101]), V],
      ["list over maxItems", base().u16list(11, [1, 2, 3, 4]), V],
      ["too many repeated", base().string(12, "a").string(12, "b").string(12, "c").string(12, "d"), V],
      ["bad repeated address", base().string(12, "a").string(12, "not valid!"), V],
      ["nested overrun", base().bytes(13, Buffer.from([0, 1, 0, 9])), L],
      ["u8 over max", base().u8(15, 3), V],
    ];
    for (const [what, w, want] of cases) assert.equal(code(w), want, what);
    assert.ok(
      !(parse(base().u16(3, 0x8000).finish(), IM, ctx) instanceof RequestFailure),
      "first of a type wins",
    );
  });

  test("a TLV overrunning the block → INVALID_TLV_LENGTH; an empty block is no TLVs", () => {
    const r = parse(Buffer.from([0, 2, 0, 10, 1]), IM, ctx);
    assert.ok(r instanceof RequestFailure);
    assert.equal(r.code, GlobalError.INVALID_TLV_LENGTH);
    const empty = compileShape({ x: { tlv: 1, kind: "u8" } })(Buffer.alloc(0), IM, ctx);
    assert.deepEqual(empty, { x: undefined });
  });

  test("hostile bytes give a typed object or a RequestFailure, never a throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const r = parse(Buffer.from(b), IM, ctx);
        assert.ok(r instanceof RequestFailure || typeof r === "object");
      }),
      { numRuns: 2000 },
    );
  });

  test("a wrong declaration is refused when compiled, not at the first request", () => {
    const bad: Array<[string, Shape]> = [
      ["two fields on one TLV", { a: { tlv: 1, kind: "u8" }, b: { tlv: 1, kind: "u16" } }],
      ["alternative number taken", { a: { tlv: 1, kind: "u8" }, b: { tlv: 2, also: [1], kind: "u8" } }],
      ["unknown kind", { a: { tlv: 1, kind: "u128" as "u8" } }],
      ["required and repeated", { a: { tlv: 1, kind: "string", required: true, repeated: true } }],
      ["min over max", { a: { tlv: 1, kind: "u16", min: 5, max: 1 } }],
      ["length on a number", { a: { tlv: 1, kind: "u16", length: 2 } }],
      ["min on a string", { a: { tlv: 1, kind: "string", min: 1 } }],
      ["TLV type out of range", { a: { tlv: 0x8000, kind: "u8" } }],
    ];
    for (const [what, s] of bad) assert.throws(() => checkShape(s, "test"), Error, what);
  });
});

describe("text classes (issue #11: control characters in name-like fields)", () => {
  const textShape = {
    name: { tlv: 1, kind: "string", text: "name" },
    line: { tlv: 2, kind: "string", text: "line" },
    free: { tlv: 3, kind: "string", text: "multiline" },
    any: { tlv: 4, kind: "string" },
  } as const satisfies Shape;
  const p = compileShape(textShape);
  const one = (tlv: number, v: string) => p(Buffer.from(new TlvWriter().string(tlv, v).finish()), 2, ctx);
  const refused = (tlv: number, v: string) => {
    const r = one(tlv, v);
    assert.ok(r instanceof RequestFailure, `${JSON.stringify(v)} in TLV ${tlv} is refused`);
    assert.equal(r.code, GlobalError.INVALID_TLV_VALUE);
  };
  const accepted = (tlv: number, v: string) => {
    const r = one(tlv, v);
    assert.ok(!(r instanceof RequestFailure), `${JSON.stringify(v)} in TLV ${tlv} is accepted: ${String(r)}`);
  };

  test("the issue's device name (newline, BEL, ESC, NUL) is refused as a name; ordinary names pass", () => {
    refused(1, "desk\n\u0007\u001b[31m\u0000");
    for (const bad of ["a\tb", "a\rb", "\u007f", "\u0085", "a\u2028b", "evil\u202egnp.exe", "x\u2066y"])
      refused(1, bad);
    for (const ok of ["desk", "Arthur's phone", "Téléphone ☎", "电话", "emoji 🎉"]) accepted(1, ok);
  });

  test("a line allows TAB only; a multiline text allows TAB, LF and CR", () => {
    accepted(2, "Trillian\t6.5");
    refused(2, "two\nlines");
    refused(2, "bell\u0007");
    accepted(3, "out to lunch\r\nback at 2\tpm");
    refused(3, "nul\u0000");
    refused(3, "esc\u001b[2J");
    refused(3, "c1\u009b");
  });

  test("without a text class any valid UTF-8 passes (message bodies are the client's business)", () => {
    accepted(4, "raw\u0000\u0007\n");
  });

  test("a text class on a non-string, or an unknown one, is a declaration error", () => {
    assert.throws(() => checkShape({ x: { tlv: 1, kind: "bytes", text: "name" } } as unknown as Shape, "t"));
    assert.throws(() => checkShape({ x: { tlv: 1, kind: "string", text: "poem" } } as unknown as Shape, "t"));
  });

  test("property: a name never holds a C0/C1 control character, whatever is sent", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (s) => {
        const r = one(1, s);
        if (r instanceof RequestFailure) return;
        for (const ch of r.name ?? "") {
          const c = ch.codePointAt(0)!;
          assert.ok(!(c < 0x20 || (c >= 0x7f && c <= 0x9f)), `code point ${c} in a name`);
        }
      }),
    );
  });
});
