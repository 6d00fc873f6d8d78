import assert from "node:assert/strict";
import { test } from "node:test";
import { imageKind, MAX_AVATAR_BYTES } from "./image.js";
import { fakeJpeg, fakePng, GIF } from "./testing-images.js";

test("PNG, JPEG and GIF by their magic bytes; anything else, empty or over 65,535 bytes is not an avatar", () => {
  assert.equal(imageKind(GIF), "gif");
  assert.equal(imageKind(Buffer.from("GIF87a;")), "gif");
  assert.equal(imageKind(fakePng()), "png");
  assert.equal(imageKind(fakeJpeg()), "jpeg");
  assert.equal(imageKind(fakePng(MAX_AVATAR_BYTES)), "png");
  assert.equal(imageKind(fakePng(MAX_AVATAR_BYTES + 1)), undefined);
  assert.equal(imageKind(Buffer.alloc(0)), undefined);
  assert.equal(imageKind(Buffer.from("GIF88a....")), undefined);
  assert.equal(imageKind(Buffer.from("<svg xmlns=...>")), undefined);
  assert.equal(imageKind(Buffer.from([0x89, 0x50, 0x4e, 0x47])), undefined, "a truncated PNG signature");
  assert.equal(imageKind(Buffer.from([0xff, 0xd8, 0xff])), undefined, "magic bytes and nothing else");
});
