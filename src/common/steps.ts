/**
 * Long synchronous work cut into steps: a generator that yields where the work may pause.
 * The same steps run to completion at once (a caller that must not interleave), or in
 * slices that give the event loop a turn every few milliseconds, so that searches and
 * writes go on while a sealed segment's codes are trained and encoded.
 */
import { backgroundTurns } from './loop-turns.js';

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
 * turn: the longest stall is about one slice plus one step. Its turns are taken in line
 * with background indexing (backgroundTurns), one slice of either a turn.
 */
export async function runInSlices<T>(steps: Steps<T>, sliceMs = 4): Promise<T> {
  // The first slice waits for its turn too: a caller that just finished other sliced work
  // (a seal trains, encodes, then writes its file) would otherwise run two slices in one.
  await backgroundTurns.take();
  let since = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() - since >= sliceMs) {
      await backgroundTurns.take();
      since = performance.now();
    }
  }
}
