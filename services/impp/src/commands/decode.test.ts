import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { fixture, loadFixtures } from "@impp/proto-fixtures";
import { ProtocolError } from "@impp/protocol";
import { main } from "../bin.js";
import type { CommandIo } from "../command.js";
import { decodeText, IncompleteInputError } from "./decode.js";

const shim = fileURLToPath(new URL("../../bin/impp.js", import.meta.url));

function io(stdin = ""): CommandIo & { out: string; err: string } {
  const r = {
    out: "",
    err: "",
    stdin: Readable.from([Buffer.from(stdin)]),
    stdout: { write: (s: string) => (r.out += s) },
    stderr: { write: (s: string) => (r.err += s) },
  };
  return r;
}

describe("decodeText", () => {
  test("--json: every complete fixture prints its expected form", () => {
    for (const fx of loadFixtures()) {
      if (fx.truncated) continue;
      const r = decodeText(fx.hex, { json: true, compressed: fx.compressed === true });
      assert.deepEqual(r.errors, [], fx.name);
      assert.equal(r.output.length, 1);
      assert.deepEqual(JSON.parse(r.output[0]!), fx.expected, fx.name);
    }
  });

  test("readable: names for family, type, flags, TLVs, errors; strings as text; tuples indented", () => {
    const bind = decodeText(fixture("device/bind-response").hex).output[0]!;
    assert.match(bind, /^DEVICE BIND RESPONSE \(flags 0x0001\) seq 3/);
    assert.match(bind, /\n {2}DEVICE_NAME \(8\) +"heart-of-gold-2"/);
    assert.match(bind, /\n {2}DEVICE_TUPLE \(18\) +\{\n {4}DEVICE_NAME \(8\) +"heart-of-gold"/);
    assert.match(bind, /STATUS \(11\) +1 ONLINE/);
    assert.match(bind, /CAPABILITIES \(13\) +\[1 IM, 2 TYPING\]/);
    assert.match(bind, /CONNECTED_AT \(10\) +1764100000000 \(2025-11-25T19:46:40\.000Z\)/);

    const err = decodeText(fixture("device/bind-error-bound-elsewhere").hex).output[0]!;
    assert.match(err, /^DEVICE BIND ERROR/);
    assert.match(err, /ERRORCODE \(0\) +32772 DEVICE_BOUND_ELSEWHERE \(0x8004\)/);
    assert.match(err, /SERVER \(17\) +"edge-2\.example\.net:3158"/);

    const im = decodeText(fixture("im/message-send-request").hex).output[0]!;
    assert.match(im, /CAPABILITY \(3\) +1 IM/);
    assert.match(im, /MESSAGE_CHUNK \(6\) +"Don't panic!"/);
    assert.match(im, /MESSAGE_ID \(4\) +0a0b0c0d/);

    assert.equal(decodeText("6f 01 00 0e").output[0], "VERSION 14");
    assert.match(
      decodeText(fixture("stream/extension-family-error").hex).output[0]!,
      /^0x4001 0x0001 ERROR\|EXTENSION/,
    );
  });

  test("the §5 dump format with offset columns, several frames in one input", () => {
    const r = decodeText(`0000 6f 02 00 00 00 01 00 01 00 00 00 01 00 00 00 06
0010 00 01 00 02 00 03
0000 6f 02 00 00 00 07 00 02 00 00 00 01 00 00 00 00`);
    assert.deepEqual(r.errors, []);
    assert.equal(r.output.length, 2);
    assert.match(r.output[0]!, /^STREAM FEATURES_SET REQUEST/);
    assert.match(r.output[0]!, /FEATURES \(1\) +3 TLS\|COMPRESSION/);
    assert.match(r.output[1]!, /^GROUP_CHATS GET REQUEST/);
  });

  test("--compressed inflates the block", () => {
    const fx = fixture("im/message-send-indication-compressed");
    const r = decodeText(fx.hex, { compressed: true });
    assert.deepEqual(r.errors, []);
    assert.match(r.output[0]!, /inflated\)\n/);
    assert.match(r.output[0]!, /FROM \(1\) +"tricia"/);
  });

  test("errors are typed: bad hex, bad start byte, truncated input, TLV overrun", () => {
    assert.equal(decodeText("6f0").errors[0]?.kind, "BAD_HEX");
    const bad = decodeText("00 01").errors[0];
    assert.ok(bad instanceof ProtocolError && bad.kind === "BAD_START_BYTE");
    const cut = decodeText(fixture("examples/lists-type7-truncated").hex).errors[0];
    assert.ok(cut instanceof IncompleteInputError);
    const overrun = decodeText("6f02 0000 0004 0003 0000002a 00000006 0002 0010 6162 6f01000e");
    assert.equal(overrun.errors[0]?.kind, "TLV_OVERRUN");
    assert.deepEqual(overrun.output, ["VERSION 14"], "a non-fatal error does not stop the frames after it");
  });
});

describe("impp dispatcher", () => {
  test("help lists the commands; unknown commands fail", async () => {
    const h = io();
    assert.equal(await main(["help"], h), 0);
    assert.match(h.out, /decode +decode IMPP messages/);
    const d = io();
    assert.equal(await main(["help", "decode"], d), 0);
    assert.match(d.out, /impp decode \[--json\]/);
    const u = io();
    assert.equal(await main(["frobnicate"], u), 2);
    assert.match(u.err, /unknown command "frobnicate"/);
    assert.equal(await main(["toString"], io()), 2, "object prototype names are not commands");
  });

  test("decode from arguments and from stdin", async () => {
    const a = io();
    assert.equal(await main(["decode", "--json", "6f", "01", "00", "0e"], a), 0);
    assert.equal(a.out, '{"channel":"version","version":14}\n');
    const s = io(fixture("examples/features-set-request").hex + "\n");
    assert.equal(await main(["decode"], s), 0);
    assert.match(s.out, /STREAM FEATURES_SET REQUEST/);
  });

  test("bad input prints the typed error and exits non-zero", async () => {
    const b = io();
    assert.equal(await main(["decode", "6f", "05"], b), 1);
    assert.match(b.err, /UNKNOWN_CHANNEL/);
    const m = io();
    assert.equal(await main(["decode", "--max-block", "nope", "6f01000e"], m), 2);
  });
});

describe("the real bin, as a subprocess", () => {
  test("bin/impp.js decode", () => {
    const ok = spawnSync(process.execPath, [shim, "decode", "6f", "01", "00", "0e"], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, "VERSION 14\n");

    const json = spawnSync(process.execPath, [shim, "decode", "--json"], {
      encoding: "utf8",
      input: "0000 6f 02 00 00 00 07 00 02 00 00 00 01 00 00 00 00\n",
    });
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), {
      channel: "tlv",
      flags: 0,
      family: 7,
      type: 2,
      sequence: 1,
      tlvs: [],
    });

    const bad = spawnSync(process.execPath, [shim, "decode", "ff"], { encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /BAD_START_BYTE/);
  });
});
