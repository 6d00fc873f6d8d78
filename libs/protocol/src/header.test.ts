import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fixture } from "@impp/proto-fixtures";
import { DeviceError, Family, Flags, GlobalError } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { encodeError, encodeFrame, encodeFrameCompressed, encodeVersion } from "./frame.js";
import {
  errorCodeOf,
  isLongTlv,
  readBlockSize,
  readFamily,
  readFlags,
  readHeader,
  readSequence,
  readType,
  readU16,
  readU32,
  readVersion,
  tlvEnd,
  tlvType,
  tlvValueStart,
} from "./header.js";
import { findTlvOverrun, parseTlvs, TlvWriter } from "./tlv.js";

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}

describe("header readers", () => {
  test("readU16 / readU32: big-endian at an offset; a u32 with its top bit set stays positive", () => {
    const b = hex("aa 01 02 ff fe 80 00 00 01");
    assert.equal(readU16(b, 1), 0x0102);
    assert.equal(readU16(b, 3), 0xfffe);
    assert.equal(readU32(b, 1), 0x0102fffe);
    assert.equal(readU32(b, 5), 0x80000001);
    assert.equal(readU32(hex("ffffffff"), 0), 0xffffffff);
  });

  test("every header field, at offset 0 and further into a buffer", () => {
    // flags 0x0009, family 0x4001, type 0x8002 (reserved MSB kept), sequence 0xfedcba98, block 3.
    const frame = hex("6f 02 0009 4001 8002 fedcba98 00000003 010203");
    for (const pad of [0, 5]) {
      const b = Buffer.concat([Buffer.alloc(pad, 0xee), frame]);
      assert.equal(readFlags(b, pad), 0x0009);
      assert.equal(readFamily(b, pad), 0x4001);
      assert.equal(readType(b, pad), 0x8002);
      assert.equal(readSequence(b, pad), 0xfedcba98);
      assert.equal(readBlockSize(b, pad), 3);
      assert.deepEqual(readHeader(b, pad), { flags: 9, family: 0x4001, type: 0x8002, sequence: 0xfedcba98 });
    }
  });

  test("readHeader and readBlockSize invert encodeFrame", () => {
    const h = { flags: Flags.RESPONSE, family: Family.LISTS, type: 7, sequence: 0xffffffff };
    const f = encodeFrame(h, Buffer.alloc(300, 1));
    assert.deepEqual(readHeader(f, 0), h);
    assert.equal(readBlockSize(f, 0), 300);
  });

  test("a block size with its top bit set reads as a large positive number", () => {
    assert.equal(readBlockSize(hex("6f 02 0000 0001 0001 00000000 80000000"), 0), 0x80000000);
  });

  test("readVersion", () => {
    assert.equal(readVersion(encodeVersion(14), 0), 14);
    assert.equal(readVersion(hex("00 6f 01 ff ff"), 1), 0xffff);
  });
});

describe("TLV walker", () => {
  test("u16-length TLVs: end offset, type, value bounds", () => {
    const b = hex("0003 0002 6869  0004 0000  0005 0001 2a");
    assert.equal(tlvEnd(b, 0), 6);
    assert.equal(tlvType(b, 0), 3);
    assert.equal(tlvValueStart(b, 0), 4);
    assert.equal(isLongTlv(b, 0), false);
    assert.equal(tlvEnd(b, 6), 10, "an empty value");
    assert.equal(tlvValueStart(b, 6), 10);
    assert.equal(tlvEnd(b, 10), b.length);
    assert.equal(tlvType(b, 10), 5);
  });

  test("a 32-bit length TLV: type without the 0x8000 bit, value after a 6-byte head", () => {
    const b = hex("8003 00000002 6869  0001 0000");
    assert.equal(isLongTlv(b, 0), true);
    assert.equal(tlvType(b, 0), 3);
    assert.equal(tlvValueStart(b, 0), 6);
    assert.equal(tlvEnd(b, 0), 8);
    assert.equal(tlvEnd(b, 8), b.length);
  });

  test("a 32-bit length above 64 KiB, as TlvWriter writes it", () => {
    const b = new TlvWriter().bytes(9, Buffer.alloc(0x10000, 7)).u8(1, 1).finish();
    assert.equal(isLongTlv(b, 0), true);
    assert.equal(tlvType(b, 0), 9);
    const next = tlvEnd(b, 0);
    assert.equal(next, 6 + 0x10000);
    assert.equal(next - tlvValueStart(b, 0), 0x10000);
    assert.equal(tlvEnd(b, next), b.length);
  });

  test("truncated input: past the end however the TLV is cut, the buffer ending there or not", () => {
    for (const whole of [hex("0003 0002 6869"), hex("8003 00000002 6869")]) {
      // Followed by more bytes (a block inside a larger buffer: the decoder's case) ...
      const more = Buffer.concat([whole, hex("6f02 0000 0000")]);
      for (let end = 1; end < whole.length; end++) {
        assert.ok(tlvEnd(more, 0) > end, `end ${end}`);
        // ... or by nothing: bytes beyond the buffer read as 0.
        assert.ok(tlvEnd(whole.subarray(0, end), 0) > end, `cut at ${end}`);
      }
      assert.equal(tlvEnd(whole, 0), whole.length);
    }
    // A u32 length with its top bit set is huge, not negative.
    const huge = hex("8003 ffffffff 00");
    assert.equal(tlvEnd(huge, 0), 6 + 0xffffffff);
  });

  test("findTlvOverrun and parseTlvs use it: a 32-bit length TLV cut off is reported at its offset", () => {
    const b = hex("0001 0001 aa  8002 00000002 bb");
    assert.equal(findTlvOverrun(b, 0, b.length), 5);
    assert.equal(findTlvOverrun(b, 0, 5), -1);
    const e = parseTlvs(b);
    assert.ok(e instanceof ProtocolError);
    assert.deepEqual([e.kind, e.offset, e.tlvType], ["TLV_OVERRUN", 5, 2]);
  });
});

describe("errorCodeOf", () => {
  test("the ERRORCODE of an error message, with or without extra TLVs", () => {
    assert.equal(errorCodeOf(encodeError(Family.IM, 3, 9, GlobalError.INVALID_TLV_VALUE)), 6);
    const extra = new TlvWriter().string(2, "edge-2.example.net:3158").finish();
    const e = encodeError(Family.DEVICE, 1, 3, DeviceError.DEVICE_BOUND_ELSEWHERE, extra);
    assert.equal(errorCodeOf(e), DeviceError.DEVICE_BOUND_ELSEWHERE);
    assert.equal(errorCodeOf(hex(fixture("stream/extension-family-error").hex)), 4);
  });

  test("at an offset: the first error of several messages, or a later one", () => {
    const ok = encodeFrame(
      { flags: Flags.RESPONSE, family: Family.IM, type: 3, sequence: 1 },
      Buffer.alloc(0),
    );
    const err = encodeError(Family.IM, 3, 2, GlobalError.SERVICE_UNAVAILABLE);
    const both = Buffer.concat([ok, err]);
    assert.equal(errorCodeOf(both), undefined);
    assert.equal(errorCodeOf(both, ok.length), GlobalError.SERVICE_UNAVAILABLE);
  });

  test("a 32-bit length ERRORCODE is read too", () => {
    assert.equal(errorCodeOf(hex("6f 02 0004 0001 0002 00000001 00000008 8000 00000002 0003")), 3);
  });

  test("undefined for anything that is not a (complete enough) error message", () => {
    const err = encodeError(Family.IM, 3, 2, GlobalError.INVALID_STATE);
    assert.equal(errorCodeOf(err), 3);
    for (let n = 0; n < err.length; n++) {
      assert.equal(errorCodeOf(err.subarray(0, n)), undefined, `cut to ${n} bytes`);
    }
    const h = { flags: Flags.RESPONSE, family: Family.IM, type: 3, sequence: 1 };
    assert.equal(errorCodeOf(encodeFrame(h, new TlvWriter().u16(0, 3).finish())), undefined, "no ERROR flag");
    const e = { ...h, flags: Flags.ERROR };
    assert.equal(errorCodeOf(encodeFrame(e, Buffer.alloc(0))), undefined, "empty block");
    assert.equal(errorCodeOf(encodeFrame(e, new TlvWriter().u16(1, 3).finish())), undefined, "not ERRORCODE");
    assert.equal(errorCodeOf(encodeFrame(e, new TlvWriter().u8(0, 3).finish())), undefined, "not 2 bytes");
    assert.equal(errorCodeOf(encodeFrameCompressed(e, new TlvWriter().u16(0, 3).finish())), undefined);
    assert.equal(errorCodeOf(encodeVersion(14)), undefined);
    const badStart = Buffer.from(err);
    badStart[0] = 0x6e;
    assert.equal(errorCodeOf(badStart), undefined);
    // A block size that ends before the ERRORCODE value: the bytes after belong to something else.
    const cut = Buffer.from(err);
    cut.writeUInt32BE(4, 12);
    assert.equal(errorCodeOf(cut), undefined);
  });
});
