/**
 * Temporary directories for tests, removed when the test ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh empty directory, deleted after the test (kept when QUIVER_KEEP_TMP=1). */
export function tempDir(t: TestContext | undefined, prefix = 'quiver-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cleanup = (): void => {
    if (process.env['QUIVER_KEEP_TMP'] !== '1') rmSync(dir, { recursive: true, force: true });
  };
  if (t !== undefined) t.after(cleanup);
  return dir;
}
