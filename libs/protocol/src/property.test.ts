import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { inflateBlock } from "./compression.js";
import { DEFAULT_MAX_BLOCK } from "./constants.js";
import { FrameDecoder } from "./decoder.js";
import { ProtocolError } from "./errors.js";
import type { Frame, FrameHeader } from "./frame.js";
import { encodeFrame, encodeFrameCompressed, encodeVersion } from "./frame.js";
import { frameToJson } from "./json.js";
import { parseTlvs, TlvBlock, TlvWriter } from "./tlv.js";

// ---- generators -------------------------------------------------------------------------------

interface GenTlv {
  type: number;
  value: Uint8Array;
  wide: boolean;
}

const header: fc.Arbitrary<FrameHeader> = fc.record({
  flags: fc.integer({ min: 0, max: 0xffff }),
  family: fc.integer({ min: 0, max: 0xffff }),
  type: fc.integer({ min: 0, max: 0xffff }),
  sequence: fc.integer({ min: 0, max: 0xffffffff }),
});

const tlvType = fc.integer({ min: 0, max: 0x7fff });

function encodeTlvs(tlvs: readonly GenTlv[]): Buffer {
  const w = new TlvWriter(8);
  for (const t of tlvs) w.bytes(t.type, t.value, t.wide);
  return Buffer.from(w.finish());
}

const leafTlv: fc.Arbitrary<GenTlv> = fc.record({
  type: tlvType,
  value: fc.uint8Array({ maxLength: 40 }),
  wide: fc.boolean(),
});

// Some values over 65535 bytes so the u32 length form is written without being forced.
const longTlv: fc.Arbitrary<GenTlv> = fc
  .record({
    type: tlvType,
    size: fc.integer({ min: 0x10000, max: 0x10100 }),
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ type, size, fill }) => ({ type, value: new Uint8Array(size).fill(fill), wide: false }));

// A tuple: a TLV whose value is itself an encoded TLV block.
const tupleTlv: fc.Arbitrary<GenTlv> = fc
  .record({ type: tlvType, inner: fc.array(leafTlv, { maxLength: 6 }), wide: fc.boolean() })
  .map(({ type, inner, wide }) => ({ type, value: encodeTlvs(inner), wide }));

const tlvList = fc.array(fc.oneof({ weight: 8, arbitrary: leafTlv }, { weight: 2, arbitrary: tupleTlv }), {
  maxLength: 12,
});
const tlvListWithLong = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: leafTlv },
    { weight: 2, arbitrary: tupleTlv },
    { weight: 1, arbitrary: longTlv },
  ),
  { maxLength: 5 },
);

type GenFrame = { version: number } | { header: FrameHeader; tlvs: GenTlv[] };
const genFrame: fc.Arbitrary<GenFrame> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ version: fc.integer({ min: 0, max: 0xffff }) }) },
  { weight: 6, arbitrary: fc.record({ header, tlvs: tlvList }) },
);

function encodeGen(f: GenFrame): Buffer {
  return "version" in f ? encodeVersion(f.version) : encodeFrame(f.header, encodeTlvs(f.tlvs));
}

/** What a decoded TLV must look like: `wide` survives only where it changed the wire form. */
function expectTlvs(tlvs: readonly GenTlv[]) {
  return tlvs.map((t) => ({
    type: t.type,
    value: Buffer.from(t.value).toString("hex"),
    wide: t.wide && t.value.length <= 0xffff,
  }));
}

function asTlvJson(tlvs: ReturnType<typeof parseTlvs>) {
  assert.ok(!(tlvs instanceof ProtocolError), tlvs instanceof ProtocolError ? tlvs.message : "");
  return tlvs.map((t) => ({ type: t.type, value: t.value.toString("hex"), wide: t.wide }));
}

/** Drains a decoder, bounded so a bug that stops making progress fails instead of hanging. */
function drain(d: FrameDecoder, limit: number): (Frame | ProtocolError)[] {
  const out: (Frame | ProtocolError)[] = [];
  for (let i = 0; i <= limit; i++) {
    const r = d.next();
    if (r === null) return out;
    out.push(r);
    if (r instanceof ProtocolError && r.fatal) return out;
  }
  assert.fail("decoder did not stop returning results");
}

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** A comparable form of decoder output: frames as JSON, errors by kind, fatality and header. */
function summary(results: (Frame | ProtocolError)[]): unknown[] {
  return results.map((r) =>
    r instanceof ProtocolError
      ? { error: r.kind, fatal: r.fatal, code: r.errorCode, header: r.header }
      : r.channel === 1
        ? frameToJson(r)
        : { ...frameToJson(r), block: r.block.toString("hex") },
  );
}

// ---- properties -------------------------------------------------------------------------------

describe("property: encode → decode is the identity", () => {
  test("TLV frames (repeated types, tuples, forced long lengths)", () => {
    fc.assert(
      fc.property(header, tlvList, (h, tlvs) => {
        const d = new FrameDecoder();
        d.push(encodeFrame(h, encodeTlvs(tlvs)));
        const f = d.next();
        assert.ok(f !== null && !(f instanceof ProtocolError) && f.channel === 2);
        assert.deepEqual({ flags: f.flags, family: f.family, type: f.type, sequence: f.sequence }, { ...h });
        assert.deepEqual(asTlvJson(parseTlvs(f.block)), expectTlvs(tlvs));
        assert.equal(d.next(), null);
        // Tuples parse back to their inner TLVs.
        const block = TlvBlock.parse(f.block) as TlvBlock;
        for (const t of tlvs) assert.ok(block.has(t.type));
      }),
      { numRuns: 300 },
    );
  });

  test("values over 65535 bytes use the 32-bit length form and come back whole", () => {
    fc.assert(
      fc.property(header, tlvListWithLong, (h, tlvs) => {
        const d = new FrameDecoder({ maxBlockSize: 1024 * 1024 });
        d.push(encodeFrame(h, encodeTlvs(tlvs)));
        const f = d.next();
        assert.ok(f !== null && !(f instanceof ProtocolError) && f.channel === 2);
        assert.deepEqual(asTlvJson(parseTlvs(f.block)), expectTlvs(tlvs));
      }),
      { numRuns: 30 },
    );
  });

  test("compressed frames inflate to the original block", () => {
    fc.assert(
      fc.property(header, tlvList, (h, tlvs) => {
        const block = encodeTlvs(tlvs);
        const d = new FrameDecoder({ checkTlvs: false });
        d.push(encodeFrameCompressed(h, block));
        const f = d.next();
        assert.ok(f !== null && !(f instanceof ProtocolError) && f.channel === 2);
        if (block.length === 0) assert.equal(f.block.length, 0, "an empty block is sent with size 0");
        const inflated = inflateBlock(f.block, DEFAULT_MAX_BLOCK);
        assert.ok(!(inflated instanceof ProtocolError));
        assert.deepEqual(inflated, block);
      }),
      { numRuns: 150 },
    );
  });

  test("TlvWriter.string writes exactly the UTF-8 bytes (ASCII fast path and encoder path)", () => {
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.string({ unit: "grapheme", maxLength: 30 }),
    );
    fc.assert(
      fc.property(tlvType, text, (type, str) => {
        const utf8 = Buffer.from(str, "utf8");
        const head = Buffer.from([type >> 8, type & 0xff, utf8.length >> 8, utf8.length & 0xff]);
        assert.deepEqual(new TlvWriter(1).string(type, str).finish(), Buffer.concat([head, utf8]));
      }),
      { numRuns: 500 },
    );
  });

  test("nested tuples decode through TlvBlock.nested", () => {
    fc.assert(
      fc.property(tlvType, fc.array(leafTlv, { maxLength: 8 }), (type, inner) => {
        const block = new TlvWriter().nested(type, encodeTlvs(inner)).finish();
        const b = TlvBlock.parse(block) as TlvBlock;
        const n = b.nested(type);
        assert.ok(n instanceof TlvBlock);
        assert.deepEqual(
          n.tlvs.map((t) => ({ type: t.type, value: t.value.toString("hex"), wide: t.wide })),
          expectTlvs(inner),
        );
      }),
    );
  });
});

describe("property: streams split at random points", () => {
  test("any valid stream split anywhere yields the same frames", () => {
    fc.assert(
      fc.property(
        fc.array(genFrame, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map(encodeGen));
          const whole = new FrameDecoder();
          whole.push(bytes);
          const expected = drain(whole, frames.length + 1);
          assert.equal(expected.length, frames.length);
          const d = new FrameDecoder();
          const got: (Frame | ProtocolError)[] = [];
          for (const piece of split(bytes, cuts)) {
            d.push(piece);
            got.push(...drain(d, frames.length + 1));
          }
          assert.deepEqual(summary(got), summary(expected));
          assert.equal(d.buffered, 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("property: hostile input only ever yields frames or ProtocolError", () => {
  function feedChecked(bytes: Buffer, cuts: number[], maxBlockSize: number): (Frame | ProtocolError)[] {
    const d = new FrameDecoder({ maxBlockSize });
    const out: (Frame | ProtocolError)[] = [];
    for (const piece of split(bytes, cuts)) {
      d.push(piece);
      // Every result consumes at least 4 bytes or is fatal, so this bound is generous.
      out.push(...drain(d, bytes.length + 1));
      if (d.error !== null) {
        // A fatal error repeats forever; the stream is over.
        assert.equal(d.next(), d.error);
        break;
      }
    }
    for (const r of out) {
      if (r instanceof ProtocolError) {
        assert.ok(r.errorCode >= 2 && r.errorCode <= 6);
        continue;
      }
      assert.ok(r.channel === 1 || r.channel === 2);
      if (r.channel === 2) {
        assert.ok(r.block.length <= maxBlockSize);
        // The typed accessors on whatever arrived never throw either.
        const b = TlvBlock.parse(r.block);
        if (b instanceof TlvBlock) {
          for (const t of b.tlvs) {
            b.u8(t.type);
            b.u16(t.type);
            b.u32(t.type);
            b.u64(t.type);
            b.u64number(t.type);
            b.string(t.type);
            b.u16list(t.type);
            b.nested(t.type);
          }
        }
        inflateBlock(r.block, maxBlockSize);
      }
    }
    return out;
  }

  test("random bytes, random chunking, and the same results as one chunk", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // Mostly-valid prefixes so the fuzzing gets past the start byte.
      fc.uint8Array({ maxLength: 300 }).map((b) => {
        const out = Buffer.from(b);
        if (out.length > 0) out[0] = 0x6f;
        if (out.length > 1) out[1] = (out[1]! % 3) + 0;
        return out;
      }),
    );
    fc.assert(
      fc.property(
        bytes,
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 0, max: 400 }),
        (b, cuts, max) => {
          const buf = Buffer.from(b);
          const pieces = feedChecked(buf, cuts, max);
          const whole = feedChecked(buf, [], max);
          assert.deepEqual(summary(pieces), summary(whole));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("mutated valid streams (flipped, dropped, inserted bytes; truncation)", () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant("drop" as const), at: fc.nat(), value: fc.constant(0) }),
      fc.record({
        op: fc.constant("insert" as const),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({ op: fc.constant("truncate" as const), at: fc.nat(), value: fc.constant(0) }),
    );
    fc.assert(
      fc.property(
        fc.array(genFrame, { minLength: 1, maxLength: 6 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, mutations, cuts) => {
          let bytes = Buffer.concat(frames.map(encodeGen));
          for (const m of mutations) {
            const at = bytes.length === 0 ? 0 : m.at % bytes.length;
            if (m.op === "flip" && bytes.length > 0) bytes[at] = m.value;
            else if (m.op === "drop") bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
            else if (m.op === "insert")
              bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.value]), bytes.subarray(at)]);
            else if (m.op === "truncate") bytes = bytes.subarray(0, at);
          }
          const pieces = feedChecked(bytes, cuts, DEFAULT_MAX_BLOCK);
          assert.deepEqual(summary(pieces), summary(feedChecked(bytes, [], DEFAULT_MAX_BLOCK)));
        },
      ),
      { numRuns: 1500 },
    );
  });

  test("parseTlvs and inflateBlock on random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 1000 }), (b, max) => {
        const buf = Buffer.from(b);
        const t = parseTlvs(buf);
        if (!(t instanceof ProtocolError)) {
          let total = 0;
          for (const x of t) total += x.value.length + (x.wide || x.value.length > 0xffff ? 6 : 4);
          assert.equal(total, buf.length, "TLVs tile the block exactly");
        } else {
          assert.equal(t.kind, "TLV_OVERRUN");
        }
        const z = inflateBlock(buf, max);
        assert.ok(z instanceof Buffer || z instanceof ProtocolError);
      }),
      { numRuns: 1000 },
    );
  });
});
