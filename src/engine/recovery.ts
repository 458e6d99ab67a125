/**
 * Recovery: the steps that bring a database directory from disk into memory, in the
 * order docs/DESIGN.md lists them — manifest, sealed segments (graphs loaded, never
 * rebuilt), orphan files, WAL replay from the manifest's LSN, damage classification.
 */
import type { Logger } from '../common/logger.js';
import { corrupt } from '../common/quiver-error.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { SEGMENT_DIR } from '../storage/format.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import { manifestFiles, readManifest } from '../storage/manifest/manifest.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import type { CleanMark } from '../storage/clean-mark.js';
import type { TornTail, WalScanReport } from '../storage/wal/wal-reader.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import { walGaps } from '../storage/wal/wal-continuity.js';
import type { WalOp } from '../storage/wal/wal-body-codec.js';
import { appliedPoints } from './logged-points.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import type { IndexFactory } from './collection-state.js';
import { CollectionState } from './collection-state.js';
import type { OnDiskVectors } from './on-disk-vectors.js';
import { loadSegmentFile } from './segment-loader.js';
import { SealedSegment } from './sealed-segment.js';
import { configFromJson, createdAtOf, sameShape } from './validation.js';
import { applyPayloadUpdate } from './payload-update.js';
import { applySwap } from './collection-swap.js';

/** What the last open found and did. */
export interface RecoveryReport {
  /** True when the previous session closed cleanly. */
  readonly cleanShutdown: boolean;
  readonly segmentsLoaded: number;
  readonly orphanFilesRemoved: readonly string[];
  readonly walFiles: number;
  readonly recordsReplayed: number;
  /** The manifest's replay start. */
  readonly walStartLsn: number;
  readonly lastLsn: number;
  /** The damaged end of the log that was cut off, when the last session crashed mid-append. */
  readonly tornTail: TornTail | undefined;
  readonly durationMs: number;
}

export interface RecoveredState {
  readonly manifest: Manifest;
  readonly catalog: Map<string, CollectionState>;
  readonly scan: WalScanReport;
  readonly report: RecoveryReport;
}

/** Applies one logged operation to the catalog (the replay path). */
export function applyOp(
  catalog: Map<string, CollectionState>,
  op: WalOp,
  lsn: number,
  makeIndex: IndexFactory,
  logger: Logger,
): void {
  switch (op.kind) {
    case 'create-collection': {
      const config = configFromJson(op.config);
      const existing = catalog.get(config.name);
      if (existing !== undefined && existing.createdLsn >= lsn) return; // already in the manifest
      const createdAt = createdAtOf(op.config);
      catalog.set(config.name, new CollectionState(config, lsn, 0, makeIndex, createdAt));
      return;
    }
    case 'drop-collection': {
      const existing = catalog.get(op.name);
      if (existing !== undefined && existing.createdLsn < lsn) catalog.delete(op.name);
      return;
    }
    case 'update-collection': {
      // The manifest's config may already hold it (the record is before the checkpoint);
      // applying it again is the same config. Segments follow when the database opens.
      const config = configFromJson(op.config);
      const existing = catalog.get(config.name);
      if (existing === undefined || existing.createdLsn >= lsn) return;
      if (sameShape(existing.config, config)) existing.config = config;
      return;
    }
    case 'swap-collection':
      applySwap(catalog, op.staging, op.target, lsn, logger);
      return;
    case 'upsert': {
      const state = catalog.get(op.collection);
      if (state === undefined || state.config.dimension !== op.dimension) {
        logger.warn(
          { lsn, collection: op.collection },
          'WAL upsert for a missing collection skipped',
        );
        return;
      }
      state.upsert(lsn, appliedPoints(op.points));
      return;
    }
    case 'delete':
      catalog.get(op.collection)?.delete(lsn, op.ids);
      return;
    case 'replace': {
      const state = catalog.get(op.collection);
      if (state === undefined || state.config.dimension !== op.dimension) {
        logger.warn(
          { lsn, collection: op.collection },
          'WAL replace for a missing collection skipped',
        );
        return;
      }
      state.delete(lsn, op.deletes);
      state.upsert(lsn, appliedPoints(op.points));
      return;
    }
    case 'payload':
      catalog
        .get(op.collection)
        ?.updatePayload(lsn, op.ids, (old) =>
          applyPayloadUpdate(old, op.mode, op.payloadJson, op.keys),
        );
      return;
    default: {
      const never: never = op;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/** Step 3b: loads every sealed segment the manifest lists, with its tombstones. */
async function loadSegments(
  fs: FileSystem,
  dir: string,
  manifest: Manifest,
  makeIndex: IndexFactory,
  lanes: number,
  vectors: OnDiskVectors,
): Promise<{ catalog: Map<string, CollectionState>; loaded: number }> {
  const catalog = new Map<string, CollectionState>();
  let loaded = 0;
  for (const c of manifest.collections) {
    const config = configFromJson(c.config);
    const createdAt = c.createdAt ?? createdAtOf(c.config);
    const state = new CollectionState(
      config,
      c.createdLsn,
      c.sealedThroughLsn,
      makeIndex,
      createdAt,
    );
    for (const s of c.segments) {
      const path = `${dir}/${SEGMENT_DIR}/${s.file}`;
      const { data, index, fileBytes, vectorsOffset } = await loadSegmentFile({
        fs,
        path,
        entry: s,
        config,
        lanes,
      });
      let deleted: Iterable<number> = [];
      if (s.tombstones !== null) {
        const tpath = `${dir}/${SEGMENT_DIR}/${s.tombstones}`;
        const t = decodeTombstones(await fs.readFile(tpath), tpath);
        if (t.segmentId !== s.id)
          throw corrupt(tpath, 8, 'tombstone file belongs to another segment');
        for (const slot of t.slots) {
          if (slot >= data.ids.length)
            throw corrupt(tpath, 24, `tombstone slot ${slot} is out of range`);
        }
        deleted = t.slots;
      }
      const seg = SealedSegment.fromData(data, s.file, fileBytes, index, deleted);
      seg.tombstoneGeneration = s.tombstoneGeneration;
      seg.tombstoneFile = s.tombstones;
      seg.fileCollection = s.collection;
      // An onDisk collection's segment keeps its graph and codes; the vectors stay here.
      await vectors.attach(seg.table, config, path, vectorsOffset);
      state.sealed.push(seg);
      loaded++;
    }
    catalog.set(config.name, state);
  }
  return { catalog, loaded };
}

/** Step 4: removes files in segments/ that the manifest does not reference (crash leftovers). */
async function removeOrphans(
  fs: FileSystem,
  dir: string,
  manifest: Manifest,
  logger: Logger,
): Promise<string[]> {
  const keep = new Set(manifestFiles(manifest));
  const removed: string[] = [];
  const segDir = `${dir}/${SEGMENT_DIR}`;
  for (const name of await fs.list(segDir)) {
    if (keep.has(name)) continue;
    await fs.unlink(`${segDir}/${name}`);
    removed.push(name);
  }
  await fs.unlink(`${dir}/MANIFEST.tmp`);
  if (removed.length > 0) {
    await fs.syncDir(segDir);
    logger.warn({ removed }, 'removed files left over by an interrupted seal or compaction');
  }
  return removed;
}

/**
 * Recovery steps 3–7 (the caller takes the lock, reads the clean mark, opens the writer
 * and removes the mark): read the manifest, load sealed segments, remove orphans, replay
 * the WAL from the manifest's start, classify damage, check against the clean mark.
 */
export async function recover(
  fs: FileSystem,
  dir: string,
  walDir: string,
  mark: CleanMark | undefined,
  makeIndex: IndexFactory,
  logger: Logger,
  vectors: OnDiskVectors,
  lanes = 0,
): Promise<RecoveredState> {
  const t0 = performance.now();
  const manifest = await readManifest(fs, dir);
  const { catalog, loaded } = await loadSegments(fs, dir, manifest, makeIndex, lanes, vectors);
  const orphans = await removeOrphans(fs, dir, manifest, logger);
  const scan = await scanWal(fs, walDir, {
    cleanlyClosed: mark !== undefined,
    fromLsn: manifest.walStartLsn,
    onRecord: (record, file, offset) => {
      applyOp(
        catalog,
        decodeWalOp(record.type, record.body, file, offset),
        record.lsn,
        makeIndex,
        logger,
      );
    },
  });
  // The log must reach back to the manifest's start, forward to its checkpoint, and after
  // a clean close end where the mark says.
  const gap = walGaps(scan, manifest, mark, walDir)[0];
  if (gap !== undefined) throw corrupt(gap.file, gap.offset, gap.what);
  await fs.failpoint('afterRecoveryReplay');
  const lastLsn = Math.max(scan.lastLsn, manifest.checkpointLsn);
  if (scan.tornTail !== undefined) {
    logger.warn(
      { ...scan.tornTail },
      'torn WAL tail found (the last session crashed mid-append); it will be truncated',
    );
  }
  return {
    manifest,
    catalog,
    scan,
    report: {
      cleanShutdown: mark !== undefined,
      segmentsLoaded: loaded,
      orphanFilesRemoved: orphans,
      walFiles: scan.files.length,
      recordsReplayed: scan.records,
      walStartLsn: manifest.walStartLsn,
      lastLsn,
      tornTail: scan.tornTail,
      durationMs: performance.now() - t0,
    },
  };
}
