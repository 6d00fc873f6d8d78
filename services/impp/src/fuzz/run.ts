// A longer fuzz run than npm test's: `node services/impp/dist/fuzz/run.js [runs per route] [seed]`.
import { fuzzDecoder, fuzzShapes } from "./harness.js";

const runs = Number(process.argv[2] ?? 20_000);
const seed = process.argv[3] === undefined ? Date.now() % 0x7fffffff : Number(process.argv[3]);
console.log(`fuzzing with seed ${seed}, ${runs} runs per request type and ${runs * 10} decoder streams`);
const t0 = performance.now();
const routes = fuzzShapes(runs, seed);
fuzzDecoder(runs * 10, seed);
console.log(`ok: ${routes} request types and the decoder, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
