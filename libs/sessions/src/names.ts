/** Limit from PROTOCOL.md §6: DEVICE_NAME ≤ 64 characters. */
export const MAX_DEVICE_NAME = 64;

function truncate(s: string, maxChars: number): string {
  // Code points, not UTF-16 units: never cut a surrogate pair in half.
  const cps = [...s];
  return cps.length <= maxChars ? s : cps.slice(0, maxChars).join("");
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** String.prototype.toWellFormed (ES2024) without needing that lib. */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, "\uFFFD");
}

/**
 * The names a bind tries, in order: the wish, then wish-2, wish-3, …, each cut
 * to fit 64 characters. With `count` greater than the device limit one of them
 * is always free, so the atomic part (a Lua script in Redis) only has to pick
 * the first free one — the naming rules live here, once.
 */
export function nameCandidates(wish: string, count: number): string[] {
  // Well-formed so Redis (UTF-8 bytes) and the in-process store (JS strings) agree on equality.
  let base = wellFormed(wish).trim();
  if (base === "") base = "device";
  const out = [truncate(base, MAX_DEVICE_NAME)];
  for (let n = 2; n <= count; n++) {
    const suffix = `-${n}`;
    out.push(truncate(base, MAX_DEVICE_NAME - suffix.length) + suffix);
  }
  return out;
}
