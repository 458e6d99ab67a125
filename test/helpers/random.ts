/**
 * Seeded random numbers and vector generators for tests, plus the fast-check settings
 * (seed and run count from QUIVER_SEED / QUIVER_RUNS, printed for replay).
 */

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random vector with values in [-1, 1). */
export function randomVector(rand: () => number, dim: number): number[] {
  const v: number[] = [];
  for (let i = 0; i < dim; i++) v.push(rand() * 2 - 1);
  return v;
}

/** fast-check parameters for a property: seed and numRuns, printed so a failure can be replayed. */
export function propertyParams(
  name: string,
  defaultRuns: number,
): { seed: number; numRuns: number } {
  const seed =
    process.env['QUIVER_SEED'] !== undefined
      ? Number(process.env['QUIVER_SEED'])
      : Math.floor(Math.random() * 0x7fffffff);
  const numRuns =
    process.env['QUIVER_RUNS'] !== undefined ? Number(process.env['QUIVER_RUNS']) : defaultRuns;
  console.log(
    `[property] ${name}: seed=${seed} numRuns=${numRuns} (replay with QUIVER_SEED=${seed})`,
  );
  return { seed, numRuns };
}
