// V8 grows its young generation (two semi-spaces) up to 16 MiB a semi-space under a burst of
// allocation and keeps it: the embedded server idled with 23-32 MiB of it. The limit is fixed
// when the process starts (--max-semi-space-size), but the growth factor is read each time V8
// grows it (after a collection whose survivors outgrew the space), so it is steered after each
// collection (a GC observer). The observer runs a turn later: V8 may grow the space twice before
// it looks, hence the margin below — and no growth at all while the server starts.
import { PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";

const MIB = 1024 * 1024;
/** V8's own growth factor (--semi-space-growth-factor). */
const V8_GROWTH = 2;

let growth = V8_GROWTH;
function setGrowth(factor: number): void {
  if (factor === growth) return;
  growth = factor;
  v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

/** No growth at all (for a start-up's bursts, before capYoungGeneration steers). */
export function holdYoungGeneration(): void {
  setGrowth(1);
}

/**
 * Semi-spaces of at most `semiSpaceMb` MiB (V8's own limit still applies). It doubles only while
 * twice that stays within half the cap, so a second growth before the check still ends within
 * it: the young generation settles at half the cap, at most the cap. Returns stop.
 */
export function capYoungGeneration(semiSpaceMb: number): () => void {
  const cap = semiSpaceMb * MIB;
  const check = () => {
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    // One semi-space's usable bytes (a little under its size).
    const semi = space === undefined ? 0 : space.space_used_size + space.space_available_size;
    setGrowth(semi > 0 && semi * 2 * V8_GROWTH <= cap * 1.01 ? V8_GROWTH : 1);
  };
  check();
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ["gc"] });
  return () => {
    observer.disconnect();
    setGrowth(V8_GROWTH);
  };
}
