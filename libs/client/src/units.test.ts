import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TlvBlock, TlvWriter } from "@impp/protocol";
import { ClientError, isClientError } from "./errors.js";
import { type ResponseFrame, takeUnread, toResponseFrame } from "./frames.js";
import { IndicationQueue } from "./indications.js";
import { authenticateBlock } from "./messages.js";

function frame(type: number): ResponseFrame {
  const block = new TlvWriter().u16(1, type).finish();
  return toResponseFrame(
    { flags: 2, family: 5, type, sequence: 0 },
    block,
    TlvBlock.parse(block) as TlvBlock,
    false,
  );
}

describe("takeUnread", () => {
  test("returns the tail the decoder still holds, across chunk boundaries", () => {
    const chunks = [Buffer.from("abcd"), Buffer.from("ef"), Buffer.from("ghi")];
    assert.equal(takeUnread(chunks, 0).length, 0);
    assert.equal(takeUnread(chunks, 2).toString(), "hi");
    assert.equal(takeUnread(chunks, 5).toString(), "efghi");
    assert.equal(takeUnread([Buffer.from("xyz")], 1).toString(), "z");
  });
});

describe("IndicationQueue", () => {
  test("each indication goes to one consumer: the oldest matching waiter, else the buffer", async () => {
    const q = new IndicationQueue(10);
    const wants3 = q.next((f) => f.type === 3, 0);
    const any = q.next(undefined, 0);
    q.push(frame(1)); // not for wants3: goes to `any`
    q.push(frame(3));
    q.push(frame(4)); // nobody waits: buffered
    assert.equal((await any).type, 1);
    assert.equal((await wants3).type, 3);
    assert.deepEqual(
      q.drain().map((f) => f.type),
      [4],
    );
  });

  test("the buffer is capped, dropping the oldest", () => {
    const q = new IndicationQueue(2);
    for (const t of [1, 2, 3]) q.push(frame(t));
    assert.equal(q.dropped, 1);
    assert.deepEqual(
      q.drain().map((f) => f.type),
      [2, 3],
    );
  });

  test("after end, buffered indications are still handed out, then next() rejects", async () => {
    const q = new IndicationQueue(10);
    const waiting = q.next((f) => f.type === 9, 0);
    q.push(frame(1));
    q.end(new ClientError("CLOSED", "gone"));
    await assert.rejects(waiting, (e) => isClientError(e, "CLOSED"));
    assert.equal((await q.next(undefined, 0)).type, 1);
    await assert.rejects(q.next(undefined, 0), (e) => isClientError(e, "CLOSED"));
  });
});

describe("authenticateBlock", () => {
  test("MECHANISM=1, NAME, PASSWORD in the chosen TLV", () => {
    assert.equal(
      authenticateBlock("tricia", "password", 5).finish().toString("hex"),
      "0002000200010003000674726963696100050008" + Buffer.from("password").toString("hex"),
    );
    assert.equal(
      authenticateBlock("a", "b", 0x4001).finish().toString("hex"),
      "00020002000100030001614001000162",
    );
  });
});
