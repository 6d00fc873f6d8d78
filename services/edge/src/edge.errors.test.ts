// Integration: the §6 framing and header errors. Each one answers as PROTOCOL.md says, closes only
// when the stream cannot go on, and leaves every other connection untouched.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { subjects } from "@impp/bus";
import { Family, Flags, GlobalError, ImType, StreamType } from "@impp/protocol";
import { errorCode, frameBytes, TestClient } from "@impp/test-kit";
import { fakeAuth, fakeDevice, type Stack, startStack } from "./test-support.js";

let stack: Stack;
let bystander: TestClient;
const MAX_BLOCK = 4096;

before(async () => {
  stack = await startStack({ limits: { maxBlockSize: MAX_BLOCK } });
  fakeAuth(stack.bus);
  fakeDevice(stack.bus);
  fakeServiceIm();
  bystander = await TestClient.bound(stack.edge.ports.plain, "bystander", "pc");
});
after(async () => {
  // Every error path below left this connection alone.
  await bystander.ping();
  bystander.close();
  await stack.stop();
});

function fakeServiceIm() {
  stack.bus.subscribe(subjects.request(Family.IM), () => {
    throw new Error("a malformed request reached the service");
  });
}

const bound = () => TestClient.bound(stack.edge.ports.plain, "tricia", `d${Math.random()}`);

describe("fatal framing errors", () => {
  test("a bad start byte: STREAM/0/0 INVALID_CONNECTION, then close", async () => {
    const c = await bound();
    c.write(Buffer.from([0x70, 0x02, 0, 0]));
    const e = await c.nextTlv();
    assert.equal(errorCode(e), GlobalError.INVALID_CONNECTION);
    assert.deepEqual([e.flags, e.family, e.type, e.sequence], [Flags.ERROR, Family.STREAM, 0, 0]);
    await c.expectClose();
  });

  test("an unknown channel: INVALID_CONNECTION, then close (also before TLS)", async () => {
    const c = await TestClient.connect(stack.edge.ports.plain);
    await c.version();
    c.write(Buffer.from([0x6f, 0x07, 0, 0]));
    assert.equal(errorCode(await c.next()), GlobalError.INVALID_CONNECTION);
    await c.expectClose();
  });

  test("a block over the limit: INVALID_TLV_LENGTH echoing family/type/sequence, then close", async () => {
    const c = await bound();
    const header = frameBytes(0, Family.IM, ImType.MESSAGE_SEND, 4242, Buffer.alloc(0));
    header.writeUInt32BE(MAX_BLOCK + 1, 12);
    c.write(header);
    const e = await c.nextTlv();
    assert.equal(errorCode(e), GlobalError.INVALID_TLV_LENGTH);
    assert.deepEqual(
      [e.flags, e.family, e.type, e.sequence],
      [Flags.ERROR, Family.IM, ImType.MESSAGE_SEND, 4242],
    );
    await c.expectClose();
  });
});

describe("per-request errors: the session goes on", () => {
  test("a TLV overrunning a well-framed block is INVALID_TLV_LENGTH and never reaches the service", async () => {
    const c = await bound();
    const seq = c.send(Family.IM, ImType.MESSAGE_SEND, Buffer.from([0, 2, 0, 9, 1, 2]));
    const e = await c.nextTlv();
    assert.equal(errorCode(e), GlobalError.INVALID_TLV_LENGTH);
    assert.equal(e.sequence, seq);
    await c.ping();
    assert.equal(stack.bus.handlerErrors, 0);
    c.close();
  });

  test("a family with its MSB set, an unknown core family: INVALID_TLV_FAMILY", async () => {
    const c = await bound();
    const msb = await c.request(0x8004, 1);
    assert.equal(errorCode(msb), GlobalError.INVALID_TLV_FAMILY);
    assert.equal(msb.flags, Flags.ERROR | Flags.EXTENSION);
    const unknown = await c.request(12, 1);
    assert.equal(errorCode(unknown), GlobalError.INVALID_TLV_FAMILY);
    assert.equal(unknown.flags, Flags.ERROR);
    await c.ping();
    c.close();
  });

  test("an unimplemented extension family: flags 0x000C INVALID_TLV_FAMILY, with or without the extension bit", async () => {
    const c = await bound();
    for (const flags of [Flags.EXTENSION, 0]) {
      const e = await c.request(0x4001, 1, Buffer.alloc(0), flags);
      assert.equal(e.flags, 0x000c);
      assert.equal(e.family, 0x4001);
      assert.equal(errorCode(e), GlobalError.INVALID_TLV_FAMILY);
    }
    await c.ping();
    c.close();
  });

  test("an unknown type in a known family: INVALID_TLV_VALUE (extension bit for extension types)", async () => {
    const c = await bound();
    const e = await c.request(Family.IM, 77);
    assert.equal(errorCode(e), GlobalError.INVALID_TLV_VALUE);
    assert.equal(e.flags, Flags.ERROR);
    const x = await c.request(Family.IM, 0x4002, Buffer.alloc(0), Flags.EXTENSION);
    assert.equal(errorCode(x), GlobalError.INVALID_TLV_VALUE);
    assert.equal(x.flags, 0x000c);
    await c.ping();
    c.close();
  });

  test("a client frame with response, indication or error flags is INVALID_STATE", async () => {
    const c = await bound();
    for (const f of [Flags.RESPONSE, Flags.INDICATION, Flags.ERROR]) {
      assert.equal(
        errorCode(await c.request(Family.STREAM, StreamType.PING, Buffer.alloc(0), f)),
        GlobalError.INVALID_STATE,
      );
    }
    await c.ping();
    c.close();
  });

  test("garbage at random never crashes the edge", async () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 30; i++) {
      const c = await TestClient.open(stack.edge.ports.plain);
      const junk = Buffer.alloc(200 + (rnd() % 800));
      for (let j = 0; j < junk.length; j++) junk[j] = rnd() & 0xff;
      // Mostly well-framed headers with random fields and blocks, sometimes pure noise.
      if (i % 3 !== 0) {
        junk[0] = 0x6f;
        junk[1] = 0x02;
        junk.writeUInt32BE(junk.length - 16, 12);
      }
      c.write(junk);
      c.close();
    }
    await bystander.ping();
  });
});
