// Issue #11: control characters in name-like fields are refused by the declared shapes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeviceTlv, Family, GlobalError, PresenceTlv, TlvWriter } from "@impp/protocol";
import { compileShape, RequestFailure } from "@impp/service-kit";
import { bindShape, updateShape } from "./fields.js";
import { setShape } from "./presence.js";

const ctx = { domain: "localhost" };
const bind = compileShape(bindShape);
const update = compileShape(updateShape);
const set = compileShape(setShape);
const block = (w: TlvWriter) => Buffer.from(w.finish());

test("BIND: the issue's DEVICE_NAME (newline, BEL, ESC, NUL) and a client field with a newline are INVALID_TLV_VALUE", () => {
  const bad = bind(
    block(new TlvWriter().string(DeviceTlv.DEVICE_NAME, "desk\n\u0007\u001b\u0000")),
    Family.DEVICE,
    ctx,
  );
  assert.ok(bad instanceof RequestFailure);
  assert.equal(bad.code, GlobalError.INVALID_TLV_VALUE);
  const client = bind(
    block(new TlvWriter().string(DeviceTlv.CLIENT_NAME, "Trillian\r\nX-Evil: 1")),
    Family.DEVICE,
    ctx,
  );
  assert.ok(client instanceof RequestFailure);
  const ok = bind(
    block(
      new TlvWriter()
        .string(DeviceTlv.DEVICE_NAME, "Téléphone ☎")
        .string(DeviceTlv.CLIENT_VERSION, "6.5\tbeta"),
    ),
    Family.DEVICE,
    ctx,
  );
  assert.ok(!(ok instanceof RequestFailure));
});

test("STATUS_MESSAGE keeps newlines and tabs but not other controls; NICKNAME takes none", () => {
  const lines = update(
    block(new TlvWriter().string(DeviceTlv.STATUS_MESSAGE, "out\n\tback at 2")),
    Family.DEVICE,
    ctx,
  );
  assert.ok(!(lines instanceof RequestFailure));
  const esc = set(
    block(new TlvWriter().string(PresenceTlv.STATUS_MESSAGE, "\u001b[2J")),
    Family.PRESENCE,
    ctx,
  );
  assert.ok(esc instanceof RequestFailure);
  const nick = set(block(new TlvWriter().string(PresenceTlv.NICKNAME, "Arthur\nDent")), Family.PRESENCE, ctx);
  assert.ok(nick instanceof RequestFailure);
  assert.equal(nick.code, GlobalError.INVALID_TLV_VALUE);
});
