// Bounded fuzzing in `npm test` (a few seconds); `node services/impp/dist/fuzz/run.js` runs longer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fuzzDecoder, fuzzShapes } from "./harness.js";

test("every family's request shapes: random and mutated blocks never throw and never pass a value past its limits", () => {
  const routes = fuzzShapes(150);
  assert.ok(routes >= 15, `${routes} request types fuzzed`);
});

test("the frame decoder with the pre-login block limit and a TLV bound: never a throw, never a frame past them", () => {
  fuzzDecoder(500);
});
