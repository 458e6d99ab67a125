/**
 * A restore target that changes only at the end: everything is written into a staging
 * directory inside the target (`.restore-staging`), and the target's old entries are
 * replaced by the staged ones only once the restore succeeded. A failure before the swap
 * leaves the target as it was; one after it empties the target rather than leave a mix.
 * Used by database restores (restore.ts) and cluster-backup restores into a directory.
 */
import type { FileSystem } from '../storage/io/file-system.js';
import { checkReplaceable, removeEntries } from './ops-files.js';

export const STAGE_DIR = '.restore-staging';

export interface StagedTarget {
  readonly target: string;
  readonly stage: string;
  /** The target's entries before the restore (replaced at the swap). */
  readonly existing: readonly string[];
  swapped: boolean;
}

/**
 * Checks that `target` may be replaced (empty, or `force`) and names its staging
 * directory; `create` makes it (a dry run does not), clearing one a failed run left.
 */
export async function stageTarget(
  fs: FileSystem,
  target: string,
  force: boolean,
  create: boolean,
): Promise<StagedTarget> {
  const existing = await checkReplaceable(fs, target, force, 'Restore target');
  const staged = { target, stage: `${target}/${STAGE_DIR}`, existing, swapped: false };
  if (create) {
    await fs.mkdirp(target);
    if (existing.includes(STAGE_DIR)) await fs.removeDir(staged.stage);
    await fs.mkdirp(staged.stage);
  }
  return staged;
}

/** Replaces the target's old entries with the staged ones (renames within one directory). */
export async function swapStaged(fs: FileSystem, s: StagedTarget): Promise<void> {
  await removeEntries(
    fs,
    s.target,
    s.existing.filter((n) => n !== STAGE_DIR),
  );
  s.swapped = true;
  for (const name of await fs.list(s.stage))
    await fs.rename(`${s.stage}/${name}`, `${s.target}/${name}`);
  await fs.removeDir(s.stage);
  await fs.syncDir(s.target);
}

/** After a failure: drops the staging directory, or empties a target already swapped. */
export async function discardStaged(fs: FileSystem, s: StagedTarget): Promise<void> {
  const cleanup = s.swapped
    ? fs.list(s.target).then((names) => removeEntries(fs, s.target, names))
    : fs.removeDir(s.stage);
  await cleanup.catch(() => undefined);
}
