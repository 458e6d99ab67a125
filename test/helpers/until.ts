/**
 * Polls `done` every 50 ms until it holds, failing the test with `what` after `ms`: how the
 * cluster tests wait for what nodes do in the background.
 */
import assert from 'node:assert/strict';

export async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
