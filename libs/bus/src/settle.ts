// Bounded waiting for running handlers, shared by both implementations' close().

/** Resolves true when every promise settled within ms, false on timeout. */
export async function settledWithin(promises: Iterable<PromiseLike<unknown>>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.allSettled([...promises]).then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
