import assert from "node:assert/strict";
import { test } from "node:test";
import { Flags, GlobalError, ProtocolError, TlvWriter } from "@impp/protocol";
import {
  asBuffer,
  errorFrame,
  errorReply,
  fromProtocolError,
  invalidValue,
  isExtension,
  isFailure,
  RequestFailure,
  responseFrame,
} from "./request.js";
import { errorCode, only, requestBuilder } from "./testing.js";

const request = requestBuilder({ family: 4, type: 3, sequence: 1234 });

test("isExtension: the request's extension flag, or a family or type in the extension range", () => {
  assert.equal(isExtension(request(Buffer.alloc(0))), false);
  assert.equal(isExtension(request(Buffer.alloc(0), { flags: Flags.EXTENSION })), true);
  assert.equal(isExtension(request(Buffer.alloc(0), { family: 0x4000 })), true);
  assert.equal(isExtension(request(Buffer.alloc(0), { type: 0x4000 })), true);
  assert.equal(isExtension(request(Buffer.alloc(0), { type: 0x3fff })), false);
});

test("responseFrame echoes family, type and sequence, with the extension bit only when the request had it", () => {
  const body = () => new TlvWriter().u16(1, 7);
  const plain = only(responseFrame(request(Buffer.alloc(0)), body()));
  assert.deepEqual([plain.flags, plain.family, plain.type, plain.sequence], [Flags.RESPONSE, 4, 3, 1234]);
  const ext = only(responseFrame(request(Buffer.alloc(0), { flags: Flags.EXTENSION }), body()));
  assert.equal(ext.flags, Flags.RESPONSE | Flags.EXTENSION);
});

test("errorFrame / errorReply: the code, the echoed header, the actions", () => {
  const req = request(Buffer.alloc(0), { type: 0x4001 });
  const f = only(errorFrame(req, GlobalError.INVALID_TLV_VALUE));
  assert.equal(errorCode(f), GlobalError.INVALID_TLV_VALUE);
  assert.deepEqual([f.flags, f.family, f.type, f.sequence], [Flags.ERROR | Flags.EXTENSION, 4, 0x4001, 1234]);
  const r = errorReply(request(Buffer.alloc(0)), GlobalError.SERVICE_UNAVAILABLE, 5);
  assert.equal(r.actions, 5);
  assert.equal(errorCode(only(r.frames)), GlobalError.SERVICE_UNAVAILABLE);
  assert.equal(errorReply(req, GlobalError.SERVICE_UNAVAILABLE).actions, 0);
});

test("failures: named values with the wire code; a codec error keeps the code §6 gives it", () => {
  const bad = invalidValue("NAME too long");
  assert.ok(isFailure(bad));
  assert.deepEqual(
    [bad.kind, bad.code, bad.reason],
    ["REQUEST_FAILURE", GlobalError.INVALID_TLV_VALUE, "NAME too long"],
  );
  const fromCodec = fromProtocolError(new ProtocolError("TLV_OVERRUN", "overrun"));
  assert.ok(fromCodec instanceof RequestFailure);
  assert.deepEqual(
    [fromCodec.code, fromCodec.reason],
    [GlobalError.INVALID_TLV_LENGTH, "TLV_OVERRUN: overrun"],
  );
  assert.equal(fromProtocolError(new ProtocolError("BAD_VALUE", "v")).code, GlobalError.INVALID_TLV_VALUE);
  assert.equal(isFailure(new Error("x")), false);
  assert.equal(isFailure({ kind: "REQUEST_FAILURE", code: 1, reason: "" }), false);
});

test("asBuffer is a view, not a copy", () => {
  const backing = new Uint8Array([0, 1, 2, 3, 4]);
  const view = backing.subarray(1, 4);
  const b = asBuffer(view);
  assert.deepEqual([...b], [1, 2, 3]);
  backing[2] = 9;
  assert.equal(b[1], 9);
  const already = Buffer.from([1]);
  assert.equal(asBuffer(already), already);
});
