/**
 * compact: runs compaction now on a database directory (takes the writer's lock; against a
 * running server use its POST /admin/compact instead): each collection with dead slots or
 * more than one segment is merged into one segment, reporting segments, bytes and the
 * deleted share (common/deleted-share.ts, as db.stats() and `quiver stats` give it) before
 * and after.
 */
import { Quiver } from '../engine/quiver.js';

export interface CompactReport {
  readonly path: string;
  readonly collection: string | undefined;
  readonly before: {
    readonly segments: number;
    readonly diskBytes: number;
    readonly deletedShare: number;
  };
  readonly after: {
    readonly segments: number;
    readonly diskBytes: number;
    readonly deletedShare: number;
  };
  readonly duration_seconds: number;
}

/** Compacts `collection` (or every collection) of the database in `dir` down to one segment. */
export async function compactDatabase(dir: string, collection?: string): Promise<CompactReport> {
  const t0 = performance.now();
  const db = await Quiver.open(dir, { autoCompact: false });
  try {
    const pick = (): CompactReport['before'] => {
      const s = db.stats();
      return { segments: s.segments, diskBytes: s.diskBytes, deletedShare: s.deletedShare };
    };
    await db.checkpoint();
    const before = pick();
    await db.compact(collection);
    await db.checkpoint();
    const after = pick();
    return {
      path: dir,
      collection,
      before,
      after,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await db.close();
  }
}
