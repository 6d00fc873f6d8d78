// Fuzzing the two places hostile bytes are parsed: the frame decoder (every byte a client sends)
// and each family's declared request shapes (compileShape, what every service runs before its
// handler). Properties: never a throw, never a value outside the declared limits. Bounded runs in
// `npm test` (fuzz.test.ts); long runs by `node services/impp/dist/fuzz/run.js [runs]`. Seeds: the
// client-to-server fixtures of proto-fixtures plus proto-fixtures/fuzz/corpus.json (regressions
// and attack blocks), each also mutated.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { findFixtures, fixturesDir } from "@impp/proto-fixtures";
import { FrameDecoder, inflateBlock, ProtocolError, scanTlvs, TLVS_OK, TlvWriter } from "@impp/protocol";
import { type FieldSpec, RequestFailure, textAllowed } from "@impp/service-kit";
import fc from "fast-check";
import { modules } from "../modules.js";

const CTX = { domain: "localhost" };

/** Blocks worth starting from: every client-to-server fixture's block, and the fuzz corpus. */
export function corpus(): Buffer[] {
  const out: Buffer[] = [];
  for (const fx of findFixtures({ direction: "client-to-server", truncated: false })) {
    if (fx.expected?.channel !== "tlv") continue;
    const w = new TlvWriter();
    for (const t of fx.expected.tlvs) w.bytes(t.type, Buffer.from(t.value, "hex"));
    out.push(Buffer.from(w.finish()));
  }
  const extra = JSON.parse(readFileSync(path.join(fixturesDir, "..", "fuzz", "corpus.json"), "utf8")) as {
    blocks: { name: string; hex: string }[];
  };
  for (const b of extra.blocks) out.push(Buffer.from(b.hex, "hex"));
  return out;
}

/** A TLV block: random TLVs (types near the declared ones), a mutated seed, or noise. */
function blockArb(types: number[], seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const tlv = fc.record({
    type: fc.oneof(fc.constantFrom(...(types.length > 0 ? types : [0])), fc.integer({ min: 0, max: 0x7fff })),
    value: fc.oneof(
      fc.uint8Array({ maxLength: 16 }),
      fc.string({ unit: "binary", maxLength: 80 }).map((s) => new Uint8Array(Buffer.from(s, "utf8"))),
      fc.uint8Array({ maxLength: 600 }),
    ),
  });
  const random = fc.array(tlv, { maxLength: 12 }).map((ts) => {
    const w = new TlvWriter();
    for (const t of ts) w.bytes(t.type, Buffer.from(t.value));
    return Buffer.from(w.finish());
  });
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
    )
    .map(([seed, flips, cut]) => {
      const b = Buffer.from(seed);
      for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
      return flips.length % 2 === 1 && b.length > 0 ? b.subarray(0, cut % (b.length + 1)) : b;
    });
  return fc.oneof(
    random,
    mutated,
    fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  );
}

/** What a parsed value must satisfy, whatever came in. */
function checkValue(spec: FieldSpec, v: unknown): void {
  if (v === undefined) return;
  if (spec.kind === "string" || spec.kind === "address") {
    assert.equal(typeof v, "string");
    const s = v as string;
    if (spec.maxBytes !== undefined) assert.ok(Buffer.byteLength(s) <= spec.maxBytes);
    if (spec.text !== undefined)
      assert.ok(textAllowed(s, spec.text), `${JSON.stringify(s)} passed as ${spec.text}`);
  }
  if (typeof v === "number") {
    if (spec.min !== undefined) assert.ok(v >= spec.min);
    if (spec.max !== undefined) assert.ok(v <= spec.max);
  }
}

/** Every request type of every module: parse never throws and never lets a value past its limits. */
export function fuzzShapes(runsPerRoute: number, seed?: number): number {
  const seeds = corpus();
  let routes = 0;
  for (const m of modules) {
    for (const f of m.families ?? []) {
      for (const r of f.routes) {
        const shape = r.shape;
        const types =
          shape === undefined ? [] : Object.values(shape).flatMap((s) => [s.tlv, ...(s.also ?? [])]);
        routes++;
        fc.assert(
          fc.property(blockArb(types, seeds), (block) => {
            const out = r.parse(block, f.family, CTX);
            if (out instanceof RequestFailure) {
              assert.ok(Number.isInteger(out.code) && out.code > 0);
              return;
            }
            if (shape === undefined) return;
            for (const [key, spec] of Object.entries(shape)) {
              const v = (out as Record<string, unknown>)[key];
              if (spec.repeated) for (const x of v as unknown[]) checkValue(spec, x);
              else checkValue(spec, v);
            }
          }),
          { numRuns: runsPerRoute, ...(seed === undefined ? {} : { seed }) },
        );
      }
    }
  }
  return routes;
}

/** The decoder as the edge runs it: never a throw; frames within the block limit and the TLV bound. */
export function fuzzDecoder(runs: number, seed?: number): void {
  const seeds = corpus();
  const frame = fc
    .tuple(fc.integer({ min: 0, max: 7 }), blockArb([1, 2, 3], seeds), fc.boolean())
    .map(([family, block, big]) => {
      const h = Buffer.alloc(16);
      h[0] = 0x6f;
      h[1] = 2;
      h.writeUInt16BE(family, 4);
      h.writeUInt32BE(big ? 0x10000 : block.length, 12);
      return Buffer.concat([h, block]);
    });
  const stream = fc.tuple(
    fc.array(
      fc.oneof(
        frame,
        fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
      ),
      { maxLength: 6 },
    ),
    fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
  );
  fc.assert(
    fc.property(stream, ([parts, cuts]) => {
      const bytes = Buffer.concat([Buffer.from([0x6f, 1, 0, 14]), ...parts]);
      const d = new FrameDecoder({ maxBlockSize: 4096, maxTlvs: 8 });
      let at = 0;
      for (const c of [...cuts, bytes.length]) {
        const end = Math.min(bytes.length, at + c);
        d.push(bytes.subarray(at, end));
        at = end;
        for (;;) {
          const f = d.next();
          if (f === null) break;
          if (f instanceof ProtocolError) {
            if (f.fatal) return;
            continue;
          }
          if (f.channel === 2) {
            assert.ok(f.block.length <= 4096);
            assert.equal(scanTlvs(f.block, 0, f.block.length, 8), TLVS_OK);
            const inflated = inflateBlock(f.block, 4096);
            if (!(inflated instanceof ProtocolError)) assert.ok(inflated.length <= 4096);
          }
        }
      }
    }),
    { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
  );
}
