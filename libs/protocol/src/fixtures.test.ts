import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Fixture } from "@impp/proto-fixtures";
import { findFixtures, loadFixtures } from "@impp/proto-fixtures";
import { FAMILIES, Family, Flags } from "./constants.js";
import { FrameDecoder } from "./decoder.js";
import { ProtocolError } from "./errors.js";
import type { Frame } from "./frame.js";
import { encodeVersion, peekHeader } from "./frame.js";
import { encodeFrameJson, frameToJson } from "./json.js";
import { parseTlvs } from "./tlv.js";

const all = loadFixtures();
const complete = all.filter((f) => !f.truncated);
const truncated = all.filter((f) => f.truncated);

function decodeOne(bytes: Buffer, compressed: boolean): Frame {
  // A compressed block is a zlib stream, not TLVs: the TLV walk is for plain blocks.
  const d = new FrameDecoder({ checkTlvs: !compressed });
  d.push(bytes);
  const f = d.next();
  assert.ok(f !== null, "a whole frame was pushed, so next() must return it");
  assert.ok(!(f instanceof ProtocolError), `decode failed: ${f instanceof ProtocolError ? f.message : ""}`);
  assert.equal(d.next(), null, "exactly one frame");
  assert.equal(d.buffered, 0);
  return f;
}

describe("fixtures: decode to the expected form and re-encode byte for byte", () => {
  test("there are fixtures, and names are unique", () => {
    assert.ok(all.length > 100);
    assert.equal(new Set(all.map((f) => f.name)).size, all.length);
  });

  for (const fx of complete) {
    test(fx.name, () => {
      const bytes = Buffer.from(fx.hex, "hex");
      const frame = decodeOne(bytes, fx.compressed === true);
      assert.deepEqual(frameToJson(frame, { compressed: fx.compressed === true }), fx.expected);
      assert.ok(fx.expected !== undefined);
      const again = encodeFrameJson(fx.expected);
      assert.equal(again.toString("hex"), fx.hex);
      if (frame.channel === 1) assert.equal(encodeVersion(frame.version).toString("hex"), fx.hex);
    });
  }
});

describe("fixtures: the cut-off examples wait for more bytes", () => {
  test("there are truncated fixtures (PROTOCOL.md §5)", () => {
    assert.ok(truncated.length >= 2);
  });

  for (const fx of truncated) {
    test(fx.name, () => {
      const bytes = Buffer.from(fx.hex, "hex");
      // Every split into two pieces, then byte by byte: never a frame, never an error.
      for (let cut = 0; cut <= bytes.length; cut++) {
        const d = new FrameDecoder();
        d.push(bytes.subarray(0, cut));
        assert.equal(d.next(), null);
        d.push(bytes.subarray(cut));
        assert.equal(d.next(), null);
        assert.equal(d.buffered, bytes.length);
      }
      const d = new FrameDecoder();
      for (const b of bytes) {
        d.push(Buffer.from([b]));
        assert.equal(d.next(), null);
      }
      // Header and first TLVs as far as they are known.
      const h = peekHeader(bytes);
      assert.ok(h !== null && !(h instanceof ProtocolError));
      assert.deepEqual(h, fx.header);
      const firstLen = (fx.firstTlvs ?? []).reduce((n, t) => n + 4 + t.value.length / 2, 0);
      const tlvs = parseTlvs(bytes.subarray(16, 16 + firstLen));
      assert.ok(!(tlvs instanceof ProtocolError));
      assert.deepEqual(
        tlvs.map((t) => ({ type: t.type, value: t.value.toString("hex") })),
        fx.firstTlvs,
      );
    });
  }
});

describe("fixtures: as one stream", () => {
  const stream = Buffer.concat(complete.map((f) => Buffer.from(f.hex, "hex")));
  const expected = complete.map((f) => f.expected);

  function drain(d: FrameDecoder, out: Frame[]): void {
    for (let f = d.next(); f !== null; f = d.next()) {
      assert.ok(!(f instanceof ProtocolError), f instanceof ProtocolError ? f.message : "");
      out.push(f);
    }
  }

  // Compressed blocks are zlib streams, not TLVs: decode with the TLV walk off and inflate per fixture.
  function check(frames: Frame[]): void {
    assert.equal(frames.length, complete.length);
    frames.forEach((f, i) => {
      assert.deepEqual(frameToJson(f, { compressed: complete[i]!.compressed === true }), expected[i]);
    });
  }

  test("byte by byte", () => {
    const d = new FrameDecoder({ checkTlvs: false });
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i++) {
      d.push(stream.subarray(i, i + 1));
      drain(d, frames);
    }
    check(frames);
    assert.equal(d.buffered, 0);
  });

  test("in one chunk, the blocks are views of it (no copy)", () => {
    const d = new FrameDecoder({ checkTlvs: false });
    const frames: Frame[] = [];
    d.push(stream);
    drain(d, frames);
    check(frames);
    for (const f of frames) if (f.channel === 2) assert.equal(f.block.buffer, stream.buffer);
  });

  test("in chunks of 7 bytes", () => {
    const d = new FrameDecoder({ checkTlvs: false });
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i += 7) {
      d.push(stream.subarray(i, i + 7));
      drain(d, frames);
    }
    check(frames);
  });
});

describe("fixtures: coverage of PROTOCOL.md §4", () => {
  const byFamily = (name: string): Fixture[] => findFixtures({ family: name });

  for (const spec of Object.values(FAMILIES)) {
    test(`${spec.name}: every message type has a request fixture`, () => {
      for (const type of Object.keys(spec.types)) {
        // CONTACT_APPROVED is an indication only (sent to the approved user).
        if (spec.value === Family.LISTS && type === "CONTACT_APPROVED") continue;
        // PRESENCE UPDATE is an indication only.
        if (spec.value === Family.PRESENCE && type === "UPDATE") continue;
        assert.ok(
          findFixtures({ family: spec.name, message: type, kind: "request" }).length > 0,
          `no ${spec.name} ${type} request`,
        );
      }
    });

    test(`${spec.name}: responses, indications and errors are covered`, () => {
      const fx = byFamily(spec.name);
      assert.ok(fx.some((f) => f.kind === "response"));
      assert.ok(fx.some((f) => f.kind === "error"));
      for (const f of fx.filter((x) => x.kind === "error")) {
        assert.ok(f.expected?.channel === "tlv");
        assert.equal(f.expected.flags, Flags.ERROR, `${f.name}: errors carry exactly flags 0x0004`);
        assert.equal(f.expected.tlvs[0]?.type, 0, `${f.name}: ERRORCODE first`);
      }
    });

    test(`${spec.name}: every family-specific error code has a fixture`, () => {
      const codes = new Set(
        byFamily(spec.name)
          .filter((f) => f.kind === "error" && f.expected?.channel === "tlv")
          .map((f) => (f.expected?.channel === "tlv" ? Number.parseInt(f.expected.tlvs[0]!.value, 16) : -1)),
      );
      for (const [name, code] of Object.entries(spec.errors))
        assert.ok(codes.has(code), `no fixture for ${name}`);
    });
  }

  test("the indications PROTOCOL.md §4 names exist", () => {
    const need: [string, string][] = [
      ["DEVICE", "UPDATE"],
      ["DEVICE", "UNBIND"],
      ["LISTS", "CONTACT_ADD"],
      ["LISTS", "CONTACT_AUTH_REQUEST"],
      ["LISTS", "CONTACT_APPROVED"],
      ["LISTS", "ALLOW_ADD"],
      ["LISTS", "BLOCK_REMOVE"],
      ["IM", "MESSAGE_SEND"],
      ["PRESENCE", "UPDATE"],
      ["GROUP_CHATS", "MEMBER_ADD"],
      ["GROUP_CHATS", "MEMBER_REMOVE"],
      ["GROUP_CHATS", "MESSAGE_SEND"],
    ];
    for (const [family, message] of need) {
      const fx = findFixtures({ family, message, kind: "indication" });
      assert.ok(fx.length > 0, `no ${family} ${message} indication`);
      for (const f of fx) {
        assert.ok(f.expected?.channel === "tlv");
        assert.equal(f.expected.sequence, 0, "indications carry sequence 0");
        assert.equal(f.expected.flags, Flags.INDICATION);
      }
    }
  });
});
