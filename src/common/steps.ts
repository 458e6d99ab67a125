/**
 * Long synchronous work cut into steps: a generator that yields where the work may pause.
 * The same steps run to completion at once (a caller that must not interleave), or in
 * slices that give the event loop a turn every few milliseconds, so that searches and
 * writes go on while a sealed segment's codes are trained and encoded.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/** Work that yields (nothing) between its steps and returns `T`. */
export type Steps<T> = Generator<void, T, void>;

/** Runs `steps` to the end without pausing. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * Runs `steps`, turning to the event loop whenever `sliceMs` have passed since the last
 * turn: the longest stall is about one slice plus one step.
 */
export async function runInSlices<T>(steps: Steps<T>, sliceMs = 10): Promise<T> {
  let since = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() - since >= sliceMs) {
      await yieldToLoop();
      since = performance.now();
    }
  }
}
