import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDeflate, deflateSync } from "node:zlib";
import { fixture } from "@impp/proto-fixtures";
import { deflateBlock, inflateBlock } from "./compression.js";
import {
  DEFAULT_MAX_BLOCK,
  DeviceError,
  DeviceTlv,
  DeviceType,
  ERRORCODE_TLV,
  errorByName,
  errorName,
  Family,
  Flags,
  familyByName,
  familyName,
  flagsName,
  GlobalError,
  ImTlv,
  isNestedTlv,
  Status,
  StreamTlv,
  statusName,
  tlvByName,
  tlvName,
  typeByName,
  typeName,
} from "./constants.js";
import { FrameDecoder } from "./decoder.js";
import { isProtocolError, ProtocolError } from "./errors.js";
import type { TlvFrame } from "./frame.js";
import {
  clientVersionError,
  encodeError,
  encodeFrame,
  encodeFrameCompressed,
  encodeProtocolError,
  encodeVersion,
  peekHeader,
} from "./frame.js";
import { errorCodeOf, readFlags, tlvType } from "./header.js";
import { HexError, parseHex } from "./json.js";
import type { Tlv } from "./tlv.js";
import { findTlvOverrun, parseTlvs, TlvBlock, TlvWriter } from "./tlv.js";

const H = { flags: 0, family: Family.IM, type: 3, sequence: 0x01020304 };

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}

function tlvFrame(x: unknown): TlvFrame {
  assert.ok(x !== null && !(x instanceof ProtocolError), `expected a frame, got ${String(x)}`);
  assert.equal((x as TlvFrame).channel, 2);
  return x as TlvFrame;
}

function protoError(x: unknown): ProtocolError {
  assert.ok(x instanceof ProtocolError, `expected a ProtocolError, got ${JSON.stringify(x)}`);
  return x;
}

describe("constants and names", () => {
  test("per-family TLV names", () => {
    assert.equal(tlvName(Family.IM, ImTlv.CAPABILITY), "CAPABILITY");
    assert.equal(tlvName(Family.DEVICE, 3), "CLIENT_MODEL");
    assert.equal(tlvName(Family.DEVICE, 19), "DEVICE_TUPLE_ALT");
    assert.equal(tlvName(Family.STREAM, 0x4001), "PASSWORD_ALT");
    assert.equal(tlvName(Family.STREAM, 0x8003), "NAME", "the long-length bit is not part of the type");
    assert.equal(tlvName(0x4001, 0), "ERRORCODE");
    assert.equal(tlvName(0x4001, 7), "0x0007");
  });

  test("family, type, error, status, flags names", () => {
    assert.equal(familyName(Family.GROUP_CHATS), "GROUP_CHATS");
    assert.equal(familyName(0x4001), "0x4001");
    assert.equal(typeName(Family.LISTS, 6), "CONTACT_APPROVED");
    assert.equal(typeName(Family.LISTS, 99), "0x0063");
    assert.equal(errorName(Family.DEVICE, DeviceError.DEVICE_COLLISION), "DEVICE_COLLISION");
    assert.equal(errorName(Family.DEVICE, 5), "INVALID_TLV_LENGTH");
    assert.equal(errorName(Family.IM, 0x8001), "USERNAME_BLOCKED");
    assert.equal(errorName(Family.PRESENCE, 0x8001), "0x8001");
    assert.equal(statusName(Status.DND), "DND");
    assert.equal(flagsName(0), "REQUEST");
    assert.equal(flagsName(0x9), "RESPONSE|EXTENSION");
    assert.equal(flagsName(0xc), "ERROR|EXTENSION");
  });

  test("name → number lookups", () => {
    assert.equal(familyByName("im"), 4);
    assert.equal(familyByName("0x4001"), 0x4001);
    assert.equal(typeByName(Family.IM, "message_send"), 3);
    assert.equal(tlvByName(Family.DEVICE, "DEVICE_TUPLE"), 18);
    assert.equal(errorByName(Family.LISTS, "ADDRESS_INVALID"), 0x8005);
    assert.equal(errorByName(Family.LISTS, "INVALID_STATE"), 3);
    assert.equal(familyByName("nope"), undefined);
  });

  test("tuple TLVs", () => {
    assert.ok(isNestedTlv(Family.DEVICE, DeviceTlv.DEVICE_TUPLE));
    assert.ok(isNestedTlv(Family.DEVICE, DeviceTlv.DEVICE_TUPLE_ALT));
    assert.ok(isNestedTlv(Family.IM, ImTlv.OFFLINE_MESSAGE));
    assert.ok(isNestedTlv(Family.GROUP_CHATS, 7));
    assert.ok(!isNestedTlv(Family.LISTS, 7));
  });
});

describe("FrameDecoder errors", () => {
  test("BAD_START_BYTE: fatal, INVALID_CONNECTION, no header; repeats and ignores later input", () => {
    const d = new FrameDecoder();
    d.push(hex("6f01000e 00"));
    assert.deepEqual(d.next(), { channel: 1, version: 14 });
    const e = protoError(d.next());
    assert.equal(e.kind, "BAD_START_BYTE");
    assert.equal(e.errorCode, GlobalError.INVALID_CONNECTION);
    assert.equal(e.fatal, true);
    assert.equal(e.header, undefined);
    assert.equal(e.offset, 4);
    d.push(hex("6f01000e"));
    assert.equal(d.next(), e);
    assert.equal(d.buffered, 0, "a failed decoder releases its buffers");
    // The server answers on family STREAM, type 0, sequence 0.
    assert.equal(
      encodeProtocolError(e).toString("hex"),
      fixture("stream/framing-error-invalid-connection").hex,
    );
  });

  test("BAD_START_BYTE is reported from the first byte alone", () => {
    const d = new FrameDecoder();
    d.push(hex("ff"));
    assert.equal(protoError(d.next()).kind, "BAD_START_BYTE");
  });

  test("UNKNOWN_CHANNEL: fatal, INVALID_CONNECTION", () => {
    for (const channel of [0, 3, 0x6f, 0xff]) {
      const d = new FrameDecoder();
      d.push(Buffer.from([0x6f, channel]));
      const e = protoError(d.next());
      assert.equal(e.kind, "UNKNOWN_CHANNEL");
      assert.equal(e.errorCode, GlobalError.INVALID_CONNECTION);
      assert.ok(e.fatal);
      assert.equal(e.header, undefined);
    }
  });

  test("BLOCK_TOO_LARGE: as soon as the header is read, fatal, echoing the header", () => {
    const d = new FrameDecoder({ maxBlockSize: 100 });
    const header = hex("6f02 0008 4001 0002 00000007 00000065");
    d.push(header.subarray(0, 15));
    assert.equal(d.next(), null);
    d.push(header.subarray(15));
    const e = protoError(d.next());
    assert.equal(e.kind, "BLOCK_TOO_LARGE");
    assert.equal(e.errorCode, GlobalError.INVALID_TLV_LENGTH);
    assert.ok(e.fatal);
    assert.deepEqual(e.header, { flags: 8, family: 0x4001, type: 2, sequence: 7 });
    assert.equal(
      encodeProtocolError(e).toString("hex"),
      "6f02000c40010002000000070000000600000002" + "0005",
      "echoes family/type/sequence with the extension bit",
    );
  });

  test("a block of exactly the limit is accepted; the default limit is 256 KiB", () => {
    const d = new FrameDecoder({ maxBlockSize: 100, checkTlvs: false });
    d.push(encodeFrame(H, Buffer.alloc(100)));
    assert.equal(tlvFrame(d.next()).block.length, 100);
    assert.equal(new FrameDecoder().maxBlockSize, DEFAULT_MAX_BLOCK);
    const big = new FrameDecoder();
    big.push(hex("6f02 0000 0004 0003 00000001 00040001"));
    assert.equal(protoError(big.next()).kind, "BLOCK_TOO_LARGE");
  });

  test("a huge declared size never allocates: the decoder holds only what arrived", () => {
    const d = new FrameDecoder({ maxBlockSize: 0xffffffff });
    d.push(hex("6f02 0000 0004 0003 00000001 ffffffff 0001"));
    assert.equal(d.next(), null);
    assert.equal(d.buffered, 18);
  });

  test("TLV_OVERRUN: not fatal, echoes the header, the next frame still decodes", () => {
    const d = new FrameDecoder();
    // TLV 2 claims 16 bytes in a 6-byte block.
    d.push(hex("6f02 0000 0004 0003 0000002a 00000006 0002 0010 6162"));
    d.push(encodeFrame(H, new TlvWriter().string(2, "ok").finish()));
    const e = protoError(d.next());
    assert.equal(e.kind, "TLV_OVERRUN");
    assert.equal(e.errorCode, GlobalError.INVALID_TLV_LENGTH);
    assert.equal(e.fatal, false);
    assert.deepEqual(e.header, { flags: 0, family: 4, type: 3, sequence: 42 });
    assert.equal(e.tlvType, 2);
    assert.match(e.message, /TLV TO/);
    const f = tlvFrame(d.next());
    assert.equal((TlvBlock.parse(f.block) as TlvBlock).string(2), "ok");
  });

  test("TLV_OVERRUN variants: partial TLV header, long form, u32 length with the top bit set", () => {
    for (const block of [
      "00",
      "000100",
      "8001 0000",
      "8001 00000005 6162",
      "8001 ffffffff 00",
      "0001 0000 00",
    ]) {
      const b = hex(block);
      assert.ok(findTlvOverrun(b, 0, b.length) >= 0, block);
      const e = protoError(parseTlvs(b));
      assert.equal(e.kind, "TLV_OVERRUN");
      const d = new FrameDecoder();
      d.push(encodeFrame(H, b));
      assert.equal(protoError(d.next()).kind, "TLV_OVERRUN");
    }
  });

  test("a version message later in the stream is just a frame", () => {
    const d = new FrameDecoder();
    d.push(
      Buffer.concat([encodeFrame(H, Buffer.alloc(0)), encodeVersion(8), encodeFrame(H, Buffer.alloc(0))]),
    );
    assert.equal(tlvFrame(d.next()).sequence, H.sequence);
    assert.deepEqual(d.next(), { channel: 1, version: 8 });
    assert.equal(tlvFrame(d.next()).block.length, 0);
    assert.equal(d.next(), null);
  });

  test("buffered counts held bytes across chunks", () => {
    const frame = encodeFrame(H, new TlvWriter().string(2, "arthur").finish());
    const d = new FrameDecoder();
    d.push(frame.subarray(0, 3));
    d.push(frame.subarray(3, 20));
    assert.equal(d.next(), null);
    assert.equal(d.buffered, 20);
    d.push(frame.subarray(20));
    tlvFrame(d.next());
    assert.equal(d.buffered, 0);
  });

  test("only a frame straddling chunks is copied; the frames after it stay views of their chunk", () => {
    const frames = [1, 2, 3].map((sequence) =>
      encodeFrame({ ...H, sequence }, new TlvWriter().string(2, "x".repeat(30)).finish()),
    );
    const all = Buffer.concat(frames);
    const cut = frames[0]!.length + 10;
    // Buffer.alloc is never pool-backed, so each chunk has an ArrayBuffer of its own.
    const a = Buffer.alloc(cut);
    all.copy(a, 0, 0, cut);
    const b = Buffer.alloc(all.length - cut);
    all.copy(b, 0, cut);
    const d = new FrameDecoder();
    d.push(a);
    d.push(b);
    const [f1, f2, f3] = [tlvFrame(d.next()), tlvFrame(d.next()), tlvFrame(d.next())];
    assert.deepEqual([f1.sequence, f2.sequence, f3.sequence], [1, 2, 3]);
    assert.equal(f1.block.buffer, a.buffer);
    assert.notEqual(f2.block.buffer, a.buffer);
    assert.notEqual(f2.block.buffer, b.buffer);
    assert.equal(f3.block.buffer, b.buffer);
    assert.equal(d.next(), null);
    assert.equal(d.buffered, 0);
  });

  test("a maximum-size frame pushed one byte at a time", () => {
    const block = new TlvWriter().bytes(6, Buffer.alloc(DEFAULT_MAX_BLOCK - 6, 0x5a)).finish();
    const wire = encodeFrame(H, block);
    const d = new FrameDecoder();
    for (let i = 0; i < wire.length - 1; i++) {
      d.push(wire.subarray(i, i + 1));
      if (i % 4096 === 0) assert.equal(d.next(), null);
    }
    assert.equal(d.next(), null);
    d.push(wire.subarray(wire.length - 1));
    assert.deepEqual(tlvFrame(d.next()).block, block);
  });

  test("checkTlvs off lets a compressed block through untouched", () => {
    const block = new TlvWriter().string(ImTlv.MESSAGE_CHUNK, "x".repeat(500)).finish();
    const wire = encodeFrameCompressed(H, block);
    const d = new FrameDecoder({ checkTlvs: false });
    d.push(wire);
    const f = tlvFrame(d.next());
    assert.ok(f.block.length < block.length);
    assert.deepEqual(inflateBlock(f.block, DEFAULT_MAX_BLOCK), block);
  });
});

describe("TlvBlock typed accessors", () => {
  const block = new TlvWriter()
    .u8(1, 7)
    .u16(2, 0xbeef)
    .u32(3, 0xdeadbeef)
    .u64(4, 0x0102030405060708n)
    .string(5, "zaphod ✓")
    .u16list(6, [1, 2, 0x4001])
    .bytes(7, Buffer.from([0xff, 0xfe]))
    .nested(8, new TlvWriter().string(1, "inner").u16(2, 5))
    .string(9, "a")
    .string(9, "b")
    .u64(10, 1_764_100_000_000)
    .finish();
  const b = TlvBlock.parse(block, Family.DEVICE) as TlvBlock;

  test("reads every type", () => {
    assert.ok(b instanceof TlvBlock);
    assert.equal(b.u8(1), 7);
    assert.equal(b.u16(2), 0xbeef);
    assert.equal(b.u32(3), 0xdeadbeef);
    assert.equal(b.u64(4), 0x0102030405060708n);
    assert.equal(b.string(5), "zaphod ✓");
    assert.deepEqual(b.u16list(6), [1, 2, 0x4001]);
    assert.deepEqual(b.first(7), Buffer.from([0xff, 0xfe]));
    const inner = b.nested(8);
    assert.ok(inner instanceof TlvBlock);
    assert.equal(inner.string(1), "inner");
    assert.equal(inner.u16(2), 5);
    assert.deepEqual(b.strings(9), ["a", "b"]);
    assert.equal(b.all(9).length, 2);
    assert.equal(b.u64number(10), 1_764_100_000_000);
    assert.ok(b.has(9) && !b.has(11));
  });

  test("absent TLVs are undefined", () => {
    assert.equal(b.u8(99), undefined);
    assert.equal(b.string(99), undefined);
    assert.equal(b.nested(99), undefined);
    assert.equal(b.u16list(99), undefined);
    assert.deepEqual(b.strings(99), []);
  });

  test("BAD_VALUE_LENGTH for a wrong fixed size, naming the TLV", () => {
    for (const e of [b.u16(1), b.u8(2), b.u32(2), b.u64(3), b.u16(5), b.u64number(3)]) {
      const err = protoError(e);
      assert.equal(err.kind, "BAD_VALUE_LENGTH");
      assert.equal(err.errorCode, GlobalError.INVALID_TLV_LENGTH);
      assert.equal(err.fatal, false);
    }
    assert.match(protoError(b.u16(1)).message, /CLIENT_NAME has 1 bytes, expected 2/);
    const odd = TlvBlock.parse(
      new TlvWriter().bytes(13, Buffer.from([0, 1, 2])).finish(),
      Family.DEVICE,
    ) as TlvBlock;
    assert.equal(protoError(odd.u16list(13)).kind, "BAD_VALUE_LENGTH");
  });

  test("BAD_VALUE for invalid UTF-8 and for a u64 past 2^53", () => {
    const e = protoError(b.string(7));
    assert.equal(e.kind, "BAD_VALUE");
    assert.equal(e.errorCode, GlobalError.INVALID_TLV_VALUE);
    assert.equal(e.tlvType, 7);
    assert.equal(protoError(b.strings(7)).kind, "BAD_VALUE");
    const big = TlvBlock.parse(new TlvWriter().u64(1, 2n ** 60n).finish()) as TlvBlock;
    assert.equal(protoError(big.u64number(1)).kind, "BAD_VALUE");
  });

  test("a broken tuple is TLV_OVERRUN naming the tuple", () => {
    const t = TlvBlock.parse(
      new TlvWriter().bytes(18, hex("0001 0009 61")).finish(),
      Family.DEVICE,
    ) as TlvBlock;
    const e = protoError(t.nested(DeviceTlv.DEVICE_TUPLE));
    assert.equal(e.kind, "TLV_OVERRUN");
    assert.match(e.message, /DEVICE_TUPLE/);
    assert.equal(protoError(t.nestedAll(18)).kind, "TLV_OVERRUN");
  });

  test("firstOf: the password in TLV 5 or 0x4001", () => {
    const alt = TlvBlock.parse(new TlvWriter().string(StreamTlv.PASSWORD_ALT, "pw").finish()) as TlvBlock;
    assert.equal(alt.firstOf(StreamTlv.PASSWORD, StreamTlv.PASSWORD_ALT)?.toString(), "pw");
  });
});

describe("TlvWriter", () => {
  test("16-bit lengths up to 65535, then type|0x8000 with a u32 length", () => {
    const at = new TlvWriter().bytes(3, Buffer.alloc(0xffff, 1)).finish();
    assert.equal(at.readUInt16BE(0), 3);
    assert.equal(at.readUInt16BE(2), 0xffff);
    const over = new TlvWriter().bytes(3, Buffer.alloc(0x10000, 1)).string(4, "é".repeat(40000)).finish();
    assert.equal(over.readUInt16BE(0), 0x8003);
    assert.equal(over.readUInt32BE(2), 0x10000);
    const p = parseTlvs(over) as Tlv[];
    assert.equal(p.length, 2);
    assert.equal(p[1]?.type, 4);
    assert.equal(
      p[1]?.value.toString(),
      "é".repeat(40000),
      "a long string moved past the wider header intact",
    );
    assert.equal(over.readUInt16BE(6 + 0x10000), 0x8004);
  });

  test("wide forces the long form; the reader keeps that fact", () => {
    const b = new TlvWriter().bytes(3, Buffer.from("hi"), true).finish();
    assert.equal(b.toString("hex"), "800300000002" + "6869");
    const [t] = parseTlvs(b) as { type: number; value: Buffer; wide: boolean }[];
    assert.deepEqual(
      { type: t?.type, wide: t?.wide, v: t?.value.toString() },
      { type: 3, wide: true, v: "hi" },
    );
  });

  test("frame() writes the header in place and equals encodeFrame", () => {
    const w = new TlvWriter(4).string(2, "arthur").u16(3, 1);
    assert.deepEqual(w.frame(H), encodeFrame(H, w.finish()));
  });

  test("u64 from number and bigint agree; bad input throws RangeError (programmer error)", () => {
    assert.deepEqual(
      new TlvWriter().u64(1, 2 ** 40 + 5).finish(),
      new TlvWriter().u64(1, 2n ** 40n + 5n).finish(),
    );
    assert.throws(() => new TlvWriter().u8(1, 256), RangeError);
    assert.throws(() => new TlvWriter().u16(0x8000, 1), RangeError);
    assert.throws(() => new TlvWriter().u64(1, -1), RangeError);
    assert.throws(() => encodeFrame({ ...H, family: 0x10000 }, Buffer.alloc(0)), RangeError);
  });

  test("encodeError: flags 0x0004, ERRORCODE first, extra TLVs after; 0x000C for extensions", () => {
    const extra = new TlvWriter().string(DeviceTlv.SERVER, "edge-2.example.net:3158").finish();
    const e = encodeError(Family.DEVICE, DeviceType.BIND, 3, DeviceError.DEVICE_BOUND_ELSEWHERE, extra);
    assert.equal(e.toString("hex"), fixture("device/bind-error-bound-elsewhere").hex);
    const x = encodeError(0x4001, 1, 20, GlobalError.INVALID_TLV_FAMILY, undefined, true);
    assert.equal(x.toString("hex"), fixture("stream/extension-family-error").hex);
    assert.equal(tlvType(x, 16), ERRORCODE_TLV);
    assert.equal(readFlags(x, 0), Flags.ERROR | Flags.EXTENSION);
    assert.equal(errorCodeOf(x), GlobalError.INVALID_TLV_FAMILY);
  });
});

describe("compression", () => {
  test("round trip; an empty block stays empty with no zlib stream", () => {
    const block = new TlvWriter().string(1, "hello ".repeat(100)).finish();
    assert.deepEqual(inflateBlock(deflateBlock(block), DEFAULT_MAX_BLOCK), block);
    assert.equal(deflateBlock(Buffer.alloc(0)).length, 0);
    assert.equal((inflateBlock(Buffer.alloc(0), 10) as Buffer).length, 0);
    assert.equal(
      encodeFrameCompressed(H, Buffer.alloc(0)).toString("hex"),
      "6f020000000400030102030400000000",
    );
    // A zlib stream of nothing is accepted too (§6: receivers accept both).
    assert.equal((inflateBlock(deflateSync(Buffer.alloc(0)), 10) as Buffer).length, 0);
  });

  test("exactly the limit inflates; one byte more is INFLATED_TOO_LARGE", () => {
    const z = deflateSync(Buffer.alloc(1000, 7));
    assert.equal((inflateBlock(z, 1000) as Buffer).length, 1000);
    const e = protoError(inflateBlock(z, 999));
    assert.equal(e.kind, "INFLATED_TOO_LARGE");
    assert.equal(e.errorCode, GlobalError.INVALID_TLV_LENGTH);
    assert.equal(e.fatal, false);
  });

  test("zip bomb: 256 MiB of zeros in a small block is an error, not an allocation", async () => {
    const deflate = createDeflate({ level: 9 });
    const parts: Buffer[] = [];
    deflate.on("data", (c: Buffer) => parts.push(c));
    const done = new Promise((resolve) => deflate.on("end", resolve));
    const mib = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 256; i++) deflate.write(mib);
    deflate.end();
    await done;
    const bomb = Buffer.concat(parts);
    assert.ok(bomb.length < DEFAULT_MAX_BLOCK, "the bomb itself passes the wire limit");
    const before = process.memoryUsage().arrayBuffers;
    const e = protoError(inflateBlock(bomb, DEFAULT_MAX_BLOCK));
    assert.equal(e.kind, "INFLATED_TOO_LARGE");
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });

  test("INFLATE_FAILED for garbage and for a cut-off stream", () => {
    for (const bad of [Buffer.from("not zlib"), deflateSync(Buffer.alloc(5000, 1)).subarray(0, 10)]) {
      const e = protoError(inflateBlock(bad, DEFAULT_MAX_BLOCK));
      assert.equal(e.kind, "INFLATE_FAILED");
      assert.equal(e.errorCode, GlobalError.INVALID_TLV_LENGTH);
    }
  });
});

describe("version and headers", () => {
  test("clientVersionError: below 8 is BAD_VERSION_FRAME (fatal); 8 and above pass", () => {
    const e = protoError(clientVersionError(7));
    assert.equal(e.kind, "BAD_VERSION_FRAME");
    assert.ok(e.fatal);
    assert.equal(clientVersionError(8), null);
    assert.equal(clientVersionError(14), null);
  });

  test("peekHeader", () => {
    const f = encodeFrame(H, Buffer.alloc(10));
    assert.deepEqual(peekHeader(f.subarray(0, 16)), { ...H, blockSize: 10 });
    assert.equal(peekHeader(f.subarray(0, 15)), null);
    assert.equal(protoError(peekHeader(f, 9)).kind, "BLOCK_TOO_LARGE");
    assert.equal(protoError(peekHeader(hex("00"))).kind, "BAD_START_BYTE");
  });

  test("isProtocolError", () => {
    assert.ok(isProtocolError(new ProtocolError("BAD_VALUE", "x")));
    assert.ok(!isProtocolError(new Error("x")));
    assert.ok(!isProtocolError(null));
  });
});

describe("parseHex", () => {
  test("the §5 dump format with offset columns", () => {
    const b = parseHex(`0000 6f 02 00 00 00 01 00 01 00 00 00 01 00 00 00 06
0010 00 01 00 02 00 03`);
    assert.deepEqual(b, hex(fixture("examples/features-set-request").hex));
  });

  test("plain, grouped, 0x-prefixed, and the ... marker", () => {
    assert.deepEqual(parseHex("6f01000e"), hex("6f01000e"));
    assert.deepEqual(parseHex("6f01 000e\n"), hex("6f01000e"));
    assert.deepEqual(parseHex("0x6f 0x01 00 0e"), hex("6f01000e"));
    assert.deepEqual(parseHex("0010 00 01 00 06 7a ..."), hex("000100067a"));
    assert.deepEqual(
      parseHex("6f020000 00010001"),
      hex("6f02000000010001"),
      "8-digit groups are data, not offsets",
    );
    assert.equal((parseHex("  ") as Buffer).length, 0);
  });

  test("BAD_HEX errors", () => {
    const odd = parseHex("6f0");
    assert.ok(odd instanceof HexError);
    assert.equal(odd.kind, "BAD_HEX");
    const bad = parseHex("6f zz");
    assert.ok(bad instanceof HexError);
    assert.equal(bad.offset, 3);
  });
});
