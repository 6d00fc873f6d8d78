import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The young generation's size (MiB) after a burst of allocation with survivors, in a fresh process. */
async function youngAfterBurst(capMb: number | undefined): Promise<number> {
  const entry = new URL("./young-generation.js", import.meta.url).href;
  const script = `
    import v8 from "node:v8";
    const { capYoungGeneration } = await import(${JSON.stringify(entry)});
    if (${capMb ?? 0} > 0) capYoungGeneration(${capMb ?? 0});
    let keep = [];
    // A server's work comes in turns of the event loop (the observer runs between them).
    for (let turn = 0; turn < 400; turn++) {
      for (let i = 0; i < 10000; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 50000) keep = []; }
      await new Promise((r) => setImmediate(r));
    }
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(ns.space_size / 1048576);`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
  return Number(stdout.trim());
}

test("capYoungGeneration keeps the young generation within two semi-spaces of the cap", async () => {
  const uncapped = await youngAfterBurst(undefined);
  const capped = await youngAfterBurst(2);
  assert.ok(uncapped > 4, `without a cap V8 grows it (got ${uncapped} MiB)`);
  assert.ok(capped <= 4, `capped at 2 MiB semi-spaces: ${capped} MiB`);
});
