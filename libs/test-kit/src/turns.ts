/** Lets pending I/O callbacks and timers of 0 ms run `n` times. */
export async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}
