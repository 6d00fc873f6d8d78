import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type DeliveryEnvelope,
  DeliveryFilter,
  decodeDelivery,
  decodeDeliveryAck,
  decodeReply,
  decodeRequest,
  EnvelopeEncodeError,
  EnvelopeError,
  encodeDelivery,
  encodeDeliveryAck,
  encodeEvent,
  encodeReply,
  encodeRequest,
  openEvent,
  ReplyAction,
  type ReplyEnvelope,
  type RequestEnvelope,
  strLen,
} from "./envelope.js";

/** Decoded blobs are views into the (Buffer) input; compare contents, not prototypes. */
function plain<T extends object>(v: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = x instanceof Uint8Array ? Uint8Array.from(x) : x;
  return out as T;
}

function ok<T>(v: T | EnvelopeError): T {
  if (v instanceof EnvelopeError) assert.fail(`unexpected ${v.kind}: ${v.message}`);
  return v;
}

function err(v: unknown, kind: EnvelopeError["kind"]): void {
  assert.ok(v instanceof EnvelopeError, `expected EnvelopeError ${kind}, got ${JSON.stringify(v)}`);
  assert.equal(v.kind, kind, v.message);
}

const request: RequestEnvelope = {
  flags: 0x0000,
  family: 0x0003,
  type: 0x0001,
  sequence: 0xfffffffe,
  connId: "c-42",
  edgeId: "edge-1",
  account: "ålice@example.com",
  device: "laptop 🖥",
  remoteAddress: "[2001:db8::1]:5222",
  server: "edge-1.example.com:3158",
  capabilities: [1, 2, 0xffff],
  block: Uint8Array.from([0, 1, 0, 0, 0, 3, 1, 2, 3]),
  deadline: 1_800_000_000_123,
};
const reply: ReplyEnvelope = {
  actions:
    ReplyAction.SET_ACCOUNT |
    ReplyAction.SET_DEVICE |
    ReplyAction.SET_CAPABILITIES |
    ReplyAction.DEVICE_RECORD,
  account: "alice",
  device: "phone",
  capabilities: [1],
  record: Uint8Array.from([1, 0, 5, 0x70]),
  frames: Uint8Array.from([0x6f, 2, 0, 0]),
};
const delivery: DeliveryEnvelope = {
  account: "bob",
  filter: DeliveryFilter.EXCEPT_DEVICE,
  device: "desk",
  capability: 1,
  closeAfter: true,
  others: ["ford", "zaphod"],
  frames: Uint8Array.from([9, 9, 9]),
};
/** A feature's event as a feature would define one (the edge's device-gone has this payload). */
interface SampleEvent {
  account: string;
  device: string;
  connId: string;
  edgeId: string;
  reason: number;
}
const gone: SampleEvent = { account: "bob", device: "desk", connId: "c1", edgeId: "e1", reason: 7 };

function encodeSampleEvent(e: SampleEvent): Buffer {
  const lens = [e.account, e.device, e.connId, e.edgeId].map((v, i) => strLen(`field ${i}`, v));
  if (!Number.isInteger(e.reason) || e.reason < 0 || e.reason > 0xffff)
    throw new EnvelopeEncodeError("BAD_VALUE", "reason");
  return encodeEvent(4 + lens.reduce((a, b) => a + b, 0) + 2, (w) => {
    w.str(e.account, lens[0]!);
    w.str(e.device, lens[1]!);
    w.str(e.connId, lens[2]!);
    w.str(e.edgeId, lens[3]!);
    w.u16(e.reason);
  });
}

function decodeSampleEvent(b: Uint8Array): SampleEvent | EnvelopeError {
  const r = openEvent(b);
  if (r instanceof EnvelopeError) return r;
  const e = {
    account: r.str("account"),
    device: r.str("device"),
    connId: r.str("connId"),
    edgeId: r.str("edgeId"),
    reason: r.u16("reason"),
  };
  return r.finish() ?? e;
}

const codecs = [
  { name: "request", sample: request, encode: encodeRequest, decode: decodeRequest },
  { name: "reply", sample: reply, encode: encodeReply, decode: decodeReply },
  { name: "delivery", sample: delivery, encode: encodeDelivery, decode: decodeDelivery },
  {
    name: "delivery ack",
    sample: { delivered: 0xffffffff },
    encode: encodeDeliveryAck,
    decode: decodeDeliveryAck,
  },
  { name: "event", sample: gone, encode: encodeSampleEvent, decode: decodeSampleEvent },
] as const;

type AnyCodec = {
  name: string;
  sample: object;
  encode: (e: never) => Buffer;
  decode: (b: Uint8Array) => object | EnvelopeError;
};
const all = codecs as unknown as readonly AnyCodec[];
const enc = (c: AnyCodec, v: object): Buffer => (c.encode as (e: object) => Buffer)(v);

describe("envelopes: examples", () => {
  for (const c of all) {
    test(`${c.name} round-trips`, () => {
      const bytes = enc(c, c.sample);
      assert.equal(bytes[0], c.sample === request ? 2 : 1, "format version first");
      assert.deepEqual(plain(ok(c.decode(bytes))), plain(c.sample));
      // Inside a larger buffer at an offset, as NATS hands payloads over.
      const big = Buffer.alloc(bytes.length + 10, 0xee);
      bytes.copy(big, 3);
      assert.deepEqual(plain(ok(c.decode(big.subarray(3, 3 + bytes.length)))), plain(c.sample));
    });

    test(`${c.name}: every truncation is TRUNCATED, extra bytes are TRAILING_BYTES`, () => {
      const bytes = enc(c, c.sample);
      for (let n = 0; n < bytes.length; n++) err(c.decode(bytes.subarray(0, n)), "TRUNCATED");
      err(c.decode(Buffer.concat([bytes, Buffer.from([0])])), "TRAILING_BYTES");
    });

    test(`${c.name}: unknown version and wrong kind are refused`, () => {
      const bytes = Buffer.from(enc(c, c.sample));
      bytes[0] = c.sample === request ? 3 : 2;
      err(c.decode(bytes), "BAD_VERSION");
      bytes[0] = 0;
      err(c.decode(bytes), "BAD_VERSION");
      for (const other of all) {
        if (other === c) continue;
        err(other.decode(enc(c, c.sample)), "BAD_KIND");
      }
    });
  }

  test("block and frames decode as views into the input, not copies", () => {
    const bytes = encodeRequest(request);
    const d = ok(decodeRequest(bytes));
    assert.equal(d.block.buffer, bytes.buffer);
    const r = ok(decodeReply(encodeReply(reply)));
    assert.ok(Buffer.from(r.frames).equals(Buffer.from(reply.frames)));
  });

  test("reply optional fields are present exactly when their action bit is", () => {
    const bare = ok(
      decodeReply(encodeReply({ actions: ReplyAction.CLOSE_AFTER, frames: new Uint8Array(0) })),
    );
    assert.deepEqual(Object.keys(bare).sort(), ["actions", "frames"]);
    assert.throws(
      () => encodeReply({ actions: ReplyAction.SET_ACCOUNT, frames: new Uint8Array(0) }),
      (e: unknown) => e instanceof EnvelopeEncodeError && e.kind === "BAD_VALUE",
    );
    assert.throws(
      () => encodeReply({ actions: 0, device: "x", frames: new Uint8Array(0) }),
      (e: unknown) => e instanceof EnvelopeEncodeError && e.kind === "BAD_VALUE",
    );
    const bytes = encodeReply({ actions: 0, frames: new Uint8Array(0) });
    bytes[2] = 0x40;
    err(decodeReply(bytes), "BAD_VALUE");
  });

  test("requests: with a deadline at version 2, without one at version 1 (what older services read)", () => {
    const v2 = encodeRequest(request);
    assert.equal(v2[0], 2);
    assert.equal(ok(decodeRequest(v2)).deadline, 1_800_000_000_123);
    const { deadline: _, ...old } = request;
    const v1 = encodeRequest(old);
    assert.equal(v1[0], 1);
    assert.equal(v1.length, v2.length - 6);
    const d = ok(decodeRequest(v1));
    assert.deepEqual(Object.keys(d).includes("deadline"), false);
    assert.deepEqual(d, { ...old, block: d.block });
    assert.throws(
      () => encodeRequest({ ...request, deadline: 2 ** 48 }),
      (e: unknown) => e instanceof EnvelopeEncodeError,
    );
  });

  test("strings: 255 bytes of UTF-8 fit, 256 are refused; invalid UTF-8 is BAD_UTF8", () => {
    const max = "é".repeat(127) + "a";
    assert.equal(Buffer.byteLength(max), 255);
    assert.equal(ok(decodeSampleEvent(encodeSampleEvent({ ...gone, account: max }))).account, max);
    assert.throws(
      () => encodeSampleEvent({ ...gone, account: max + "a" }),
      (e: unknown) => e instanceof EnvelopeEncodeError && e.kind === "TOO_LONG",
    );
    const bytes = encodeSampleEvent({ ...gone, account: "ab" });
    bytes[3] = 0xc3; // a lead byte followed by 'b': not UTF-8
    err(decodeSampleEvent(bytes), "BAD_UTF8");
    bytes[3] = 0xc0; // overlong encoding
    bytes[4] = 0x80;
    err(decodeSampleEvent(bytes), "BAD_UTF8");
  });

  test("out-of-range numbers are refused when encoding", () => {
    for (const bad of [-1, 0x10000, 1.5, Number.NaN]) {
      assert.throws(() => encodeRequest({ ...request, family: bad }), EnvelopeEncodeError);
      assert.throws(() => encodeRequest({ ...request, capabilities: [bad] }), EnvelopeEncodeError);
    }
    assert.throws(() => encodeRequest({ ...request, sequence: 2 ** 32 }), EnvelopeEncodeError);
    assert.throws(() => encodeDelivery({ ...delivery, filter: 3 }), EnvelopeEncodeError);
    assert.throws(() => encodeDeliveryAck({ delivered: -1 }), EnvelopeEncodeError);
  });

  test("delivery: unknown filter and non-boolean closeAfter are BAD_VALUE", () => {
    const d = { ...delivery, account: "a", device: "d" };
    const bytes = encodeDelivery(d);
    // layout: ver kind | len 'a' | filter | len 'd' | cap(2) | closeAfter | frames
    bytes[4] = 3;
    err(decodeDelivery(bytes), "BAD_VALUE");
    bytes[4] = 0;
    bytes[9] = 2;
    err(decodeDelivery(bytes), "BAD_VALUE");
  });
});

// ---------------------------------------------------------------- properties

const str = fc.string({ unit: "binary", maxLength: 60 }); // ≤ 240 bytes of UTF-8
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = fc.uint8Array({ maxLength: 300 });
const caps = fc.array(u16, { maxLength: 20 });

const arbRequest: fc.Arbitrary<RequestEnvelope> = fc.record({
  flags: u16,
  family: u16,
  type: u16,
  sequence: u32,
  connId: str,
  edgeId: str,
  account: str,
  device: str,
  remoteAddress: str,
  server: str,
  capabilities: caps,
  block: bytes,
});
const arbReply: fc.Arbitrary<ReplyEnvelope> = fc
  .record({
    actions: fc.integer({ min: 0, max: 0x1f }),
    account: str,
    device: str,
    capabilities: caps,
    frames: bytes,
  })
  .map(({ actions, account, device, capabilities, frames }) => {
    const e: ReplyEnvelope = { actions, frames };
    if (actions & ReplyAction.SET_ACCOUNT) e.account = account;
    if (actions & ReplyAction.SET_DEVICE) e.device = device;
    if (actions & ReplyAction.SET_CAPABILITIES) e.capabilities = capabilities;
    return e;
  });
const arbDelivery: fc.Arbitrary<DeliveryEnvelope> = fc.record(
  {
    account: str,
    filter: fc.constantFrom(0, 1, 2),
    device: str,
    capability: u16,
    closeAfter: fc.boolean(),
    others: fc.array(str, { minLength: 1, maxLength: 4 }),
    frames: bytes,
  },
  { requiredKeys: ["account", "filter", "device", "capability", "closeAfter", "frames"] },
);
const arbGone: fc.Arbitrary<SampleEvent> = fc.record({
  account: str,
  device: str,
  connId: str,
  edgeId: str,
  reason: u16,
});
const arbitraries: Record<string, fc.Arbitrary<object>> = {
  request: arbRequest,
  reply: arbReply,
  delivery: arbDelivery,
  "delivery ack": fc.record({ delivered: u32 }),
  event: arbGone,
};

/** Any bytes: an envelope that re-encodes to exactly those bytes, or an EnvelopeError. Never a throw. */
function checkTotal(c: AnyCodec, input: Uint8Array): void {
  const d = c.decode(input);
  if (d instanceof EnvelopeError) return;
  assert.ok(Buffer.from(enc(c, d)).equals(Buffer.from(input)), "a decoded envelope has one encoding");
}

describe("envelopes: properties", () => {
  for (const c of all) {
    const arb = arbitraries[c.name]!;

    test(`${c.name}: random envelopes round-trip`, () => {
      fc.assert(
        fc.property(arb, (e) => {
          assert.deepEqual(plain(ok(c.decode(enc(c, e)))), plain(e));
        }),
        { numRuns: 300 },
      );
    });

    test(`${c.name}: random bytes decode to a value or an EnvelopeError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (b) => checkTotal(c, b)),
        { numRuns: 500 },
      );
      // The same behind a valid header, to reach the field decoders.
      const head = enc(c, c.sample).subarray(0, 2);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (b) => checkTotal(c, Buffer.concat([head, b]))),
        { numRuns: 500 },
      );
    });

    test(`${c.name}: mutated and truncated envelopes decode to a value or an EnvelopeError`, () => {
      fc.assert(
        fc.property(
          arb,
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          fc.nat(),
          (e, flips, cut) => {
            const b = Buffer.from(enc(c, e));
            for (const [at, v] of flips) b[at % b.length] = v;
            checkTotal(c, b);
            checkTotal(c, b.subarray(0, cut % (b.length + 1)));
          },
        ),
        { numRuns: 500 },
      );
    });
  }
});
