/**
 * Facilities that some tests need from the machine (a tiny tmpfs, shared WebAssembly
 * memory, promtool). Where one is missing a developer's run skips those tests and says
 * why; where `.ci/run` sets QUIVER_REQUIRE_FACILITIES=1 a missing facility is a failing
 * test instead, so CI can never go green by skipping what it was meant to check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

/** True when the run must have every facility (CI). */
export function facilitiesRequired(): boolean {
  return process.env['QUIVER_REQUIRE_FACILITIES'] === '1';
}

/**
 * The `skip` option for tests that need `name`: false when it is available; otherwise the
 * reason, and under QUIVER_REQUIRE_FACILITIES=1 also a failing test naming what is missing.
 */
export function needs(name: string, available: boolean, why: string): string | false {
  if (available) return false;
  const reason = `${name} is not available: ${why}`;
  if (facilitiesRequired()) {
    test(`facility: ${name}`, () => {
      assert.fail(`${reason} (QUIVER_REQUIRE_FACILITIES=1: this run must have it)`);
    });
  }
  return reason;
}
