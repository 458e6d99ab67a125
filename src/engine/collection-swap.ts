/**
 * Collection swap: the one step that puts a staging collection (engine/staging-name.ts)
 * in the place of another — the target, if any, is dropped and the staging collection takes
 * its name — applied live and at replay from one SWAP_COLLECTION record. Also the removal,
 * at open, of staging collections whose swap never happened (a crash during a restore).
 *
 * Nothing is rewritten at a swap: the staging collection's segment files keep its name in
 * their headers, and the manifest records that name per segment (`collection`, format 1.2)
 * so the header check at open stays exact. Compaction rewrites them under the new name.
 */
import type { Logger } from '../common/logger.js';
import type { Log } from '../storage/wal/log.js';
import { encodeWalOp } from '../storage/wal/wal-body-codec.js';
import { CollectionState } from './collection-state.js';
import { isStagingName } from './staging-name.js';

/**
 * `staging` under `target`'s name, as of the swap logged at `lsn`. Its sealed segments move
 * over; unsealed points (only at replay from an older base, e.g. a point-in-time restore)
 * are copied into the new growing segment with their original LSN range, which marks the
 * state as needing a seal before anything else ({@link hasInheritedUnsealedData}).
 */
function renamed(staging: CollectionState, target: string, lsn: number): CollectionState {
  const config = { ...staging.config, name: target };
  const state = new CollectionState(config, lsn, lsn, staging.makeIndex, staging.createdAt);
  for (const seg of staging.sealed) {
    seg.fileCollection ??= staging.config.name;
    state.sealed.push(seg);
  }
  for (const old of [...staging.sealing, staging.growing]) {
    if (old.firstLsn === undefined) continue;
    state.growing.touch(old.firstLsn);
    state.growing.touch(old.lastLsn);
    state.growing.append([...old.points(undefined)]);
  }
  return state;
}

/**
 * Applies a swap logged at `lsn` to the catalog: `target` is dropped and `staging` renamed
 * to it. Idempotent at replay: when the manifest already lists `target` as created by this
 * swap, a `staging` rebuilt from older records is discarded. Returns the replaced state
 * (undefined when there was none) and the new one (undefined when skipped).
 */
export function applySwap(
  catalog: Map<string, CollectionState>,
  stagingName: string,
  target: string,
  lsn: number,
  logger: Logger,
): { dropped: CollectionState | undefined; swapped: CollectionState | undefined } {
  const old = catalog.get(target);
  const staging = catalog.get(stagingName);
  if (old !== undefined && old.createdLsn >= lsn) {
    if (staging !== undefined && staging.createdLsn < lsn) catalog.delete(stagingName);
    return { dropped: undefined, swapped: undefined };
  }
  if (staging === undefined) {
    logger.warn({ lsn, staging: stagingName, target }, 'WAL swap of a missing collection skipped');
    return { dropped: undefined, swapped: undefined };
  }
  const swapped = renamed(staging, target, lsn);
  catalog.delete(stagingName);
  catalog.set(target, swapped);
  return { dropped: old, swapped };
}

/**
 * True when a swap at replay gave a collection points not yet in a segment file under its
 * new name (their records are older than the collection). Such a database is sealed whole
 * at open, before any other checkpoint could move the WAL's start past those records.
 */
export function hasInheritedUnsealedData(catalog: ReadonlyMap<string, CollectionState>): boolean {
  for (const s of catalog.values()) {
    if (s.growing.firstLsn !== undefined && s.growing.firstLsn < s.createdLsn) return true;
    if (s.sealing.some((g) => g.firstLsn !== undefined && g.firstLsn < s.createdLsn)) return true;
  }
  return false;
}

/**
 * Drops (with a DROP_COLLECTION record) every staging collection left by a replacement
 * that never reached its swap: the target kept its old content. Returns their names.
 */
export async function removeLeftoverStaging(
  catalog: Map<string, CollectionState>,
  log: Log,
  logger: Logger,
): Promise<string[]> {
  const leftovers = [...catalog.keys()].filter(isStagingName);
  for (const name of leftovers) {
    const { type, body } = encodeWalOp({ kind: 'drop-collection', name });
    await log.append(type, body, () => catalog.delete(name));
    logger.warn(
      { collection: name },
      'removed a staging collection left by an interrupted snapshot restore; the collection it was replacing kept its content',
    );
  }
  return leftovers;
}
