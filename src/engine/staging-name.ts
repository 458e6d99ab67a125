/**
 * Staging collection names: where a collection replacement (a snapshot restore) loads its
 * data before the swap. They start with a dot, which the collection name rule
 * `[A-Za-z0-9_-]{1,64}` never produces, so no user can create, list or address one, and
 * they name their target, so a leftover one says what it was for.
 */

const STAGING_PREFIX = '.staging-';
const STAGING_RE = /^\.staging-([A-Za-z0-9_-]{1,64})-(\d{1,15})$/;

/** The staging name of the `n`-th replacement of `target`. */
export function stagingName(target: string, n: number): string {
  return `${STAGING_PREFIX}${target}-${n}`;
}

/** True when `name` is a staging collection's name (hidden from every listing). */
export function isStagingName(name: string): boolean {
  return name.startsWith(STAGING_PREFIX);
}

/** The collection a staging name replaces, or undefined when `name` is not a staging name. */
export function stagingTarget(name: string): string | undefined {
  return STAGING_RE.exec(name)?.[1];
}
