/**
 * settle: runs a synchronous computation behind a promise-returning API, so that a throw
 * (a QuiverError for bad input or a closed database) rejects instead of escaping.
 */

/** Resolves with `compute()`'s result (awaited when it is a promise), or rejects with what it threw. */
export function settle<T>(compute: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(compute());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
