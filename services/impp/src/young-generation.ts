// V8 grows its young generation (two semi-spaces) up to 16 MiB a semi-space under a burst of
// allocation and keeps it: the embedded server idled with 23-32 MiB of it. The limit is fixed
// when the process starts (--max-semi-space-size), but the growth factor is read each time V8
// grows it (after a collection whose survivors outgrew the space). So after each collection: at
// the cap, growth is turned off; below it, the factor is the one that lands exactly on the cap.
// The check runs after the collection (a GC observer): growing twice before it is possible but
// needs two collections with survivors that each outgrow the space, within one turn.
import { PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";

const MIB = 1024 * 1024;
/** V8's own growth factor (--semi-space-growth-factor). */
const V8_GROWTH = 2;

/** Semi-spaces of at most `semiSpaceMb` MiB (V8's own limit still applies). Returns stop. */
export function capYoungGeneration(semiSpaceMb: number): () => void {
  const cap = semiSpaceMb * MIB;
  let growth = V8_GROWTH;
  const check = () => {
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    // One semi-space's usable bytes (a little under its size, so the floor below lands on the cap).
    const semi = space === undefined ? 0 : space.space_used_size + space.space_available_size;
    const want = semi >= cap * 0.9 ? 1 : semi > 0 ? Math.max(1, Math.floor(cap / semi)) : V8_GROWTH;
    if (want === growth) return;
    growth = want;
    v8.setFlagsFromString(`--semi-space-growth-factor=${want}`);
  };
  check();
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ["gc"] });
  return () => {
    observer.disconnect();
    if (growth !== V8_GROWTH) v8.setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH}`);
  };
}
