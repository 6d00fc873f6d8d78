import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeVersion, Flags, FrameDecoder, inflateBlock, TlvWriter } from "@impp/protocol";
import { drainNotice } from "./drain.js";
import { FramesError, OutFrames, VERSION_FAMILY } from "./frames.js";

const msg = (family: number, text: string) =>
  Buffer.from(
    new TlvWriter().string(1, text).frame({ flags: Flags.INDICATION, family, type: 3, sequence: 0 }),
  );

describe("OutFrames", () => {
  test("splits concatenated messages by their block sizes", () => {
    const bytes = Buffer.concat([msg(4, "hello"), encodeVersion(14), msg(5, ""), msg(3, "x".repeat(300))]);
    const f = OutFrames.parse(bytes);
    assert.ok(!(f instanceof FramesError));
    assert.deepEqual(f.families, [4, VERSION_FAMILY, 5, 3]);
    assert.equal(f.count, 4);
  });

  test("rejects truncated or corrupt frames instead of writing them", () => {
    const good = msg(4, "hello");
    assert.ok(OutFrames.parse(good.subarray(0, good.length - 1)) instanceof FramesError);
    assert.ok(OutFrames.parse(good.subarray(0, 10)) instanceof FramesError);
    const bad = Buffer.from(good);
    bad[1] = 9;
    assert.ok(OutFrames.parse(bad) instanceof FramesError);
    assert.ok(OutFrames.parse(Buffer.from([0x6f, 0x01, 0x00])) instanceof FramesError);
  });

  test("compressed(): every block its own zlib stream, headers kept, empty blocks stay empty; computed once", () => {
    const a = msg(4, "hello hello hello");
    const empty = Buffer.from(
      new TlvWriter().frame({ flags: Flags.RESPONSE, family: 1, type: 3, sequence: 7 }),
    );
    const f = OutFrames.parse(Buffer.concat([a, empty]));
    assert.ok(!(f instanceof FramesError));
    const z = f.compressed();
    assert.equal(f.compressed(), z);
    const d = new FrameDecoder({ checkTlvs: false });
    d.push(z);
    const first = d.next();
    const second = d.next();
    assert.ok(first !== null && !(first instanceof Error) && first.channel === 2);
    assert.ok(second !== null && !(second instanceof Error) && second.channel === 2);
    assert.deepEqual([first.flags, first.family, first.type], [Flags.INDICATION, 4, 3]);
    assert.deepEqual(inflateBlock(first.block, 1 << 20), a.subarray(16));
    assert.equal(second.block.length, 0);
    assert.equal(second.sequence, 7);
  });
});

describe("drainNotice", () => {
  test("DEVICE BIND error DEVICE_BOUND_ELSEWHERE, sequence 0, flags 0x0004, SERVER TLV", () => {
    const n = drainNotice("edge-2.example:3158");
    assert.deepEqual(
      n,
      Buffer.concat([
        Buffer.from("6f02" + "0004" + "0002" + "0001" + "00000000", "hex"),
        Buffer.from([0, 0, 0, 6 + 4 + 19]),
        Buffer.from("0000" + "0002" + "8004" + "0011" + "0013", "hex"),
        Buffer.from("edge-2.example:3158"),
      ]),
    );
  });
});
