/**
 * info and stats: the layout and numbers of a database directory, read from a pinned
 * snapshot without the writer's lock (safe while a server runs): LSNs, files and sizes,
 * per collection points, segments, deleted ratio, and the memory estimate of ops/tune.ts.
 */
import type { SlotCount } from '../common/deleted-share.js';
import { deletedShare } from '../common/deleted-share.js';
import { QuiverError } from '../common/quiver-error.js';
import type { JsonObject } from '../common/types.js';
import {
  CLEAN_MARK_FILE,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  SEGMENT_DIR,
  WAL_DIR,
  WalRecordType,
} from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { liveLockOwner } from '../storage/lock-file.js';
import type { ManifestSegment } from '../storage/manifest/manifest.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import { isStagingName } from '../engine/staging-name.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import { compileFilter } from '../filter/filter-evaluator.js';
import { parseMongoFilter } from '../filter/mongo-filter-parser.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import { snapshotPoints } from './export.js';
import { jsonString } from './ops-files.js';
import type { PinnedSnapshot } from './snapshot.js';
import { pinSnapshot } from './snapshot.js';
import type { Quantization } from './tune.js';
import { estimateFootprint } from './tune.js';
import { createdAtOf } from '../engine/validation.js';

export interface CollectionStatsReport {
  readonly name: string;
  /** When it was created (ISO 8601, UTC); null for one created before format 1.1. */
  readonly createdAt: string | null;
  readonly dimension: number;
  readonly metric: string;
  readonly hnsw: { readonly m: number; readonly efConstruction: number; readonly efSearch: number };
  readonly points: number;
  readonly segments: number;
  readonly segmentBytes: number;
  /**
   * Slots in segment files whose point was deleted or replaced, over all their slots: the
   * engine's deleted share (common/deleted-share.ts) computed from the files.
   */
  readonly deletedRatio: number;
  /** Points not yet sealed (replayed from the WAL at open). */
  readonly unsealedPoints: number;
  readonly memoryEstimateBytes: number;
  /** With a filter: the live points it matches, and that share of all live points. */
  readonly filter?: { readonly matching: number; readonly selectivity: number };
}

export interface StatsReport {
  readonly path: string;
  readonly formatVersion: string;
  readonly lsn: number;
  readonly manifestGeneration: number;
  readonly walStartLsn: number;
  readonly checkpointLsn: number;
  readonly walFiles: number;
  readonly walBytes: number;
  readonly segmentFiles: number;
  readonly segmentBytes: number;
  readonly diskBytes: number;
  readonly points: number;
  readonly memoryEstimateBytes: number;
  /** Who holds the directory: a live writer's pid, or undefined. */
  readonly writerPid: number | undefined;
  readonly cleanlyClosed: boolean;
  readonly collections: readonly CollectionStatsReport[];
  readonly duration_seconds: number;
}

/** Stats of the database in `dir` (only `collection`, when given). */
export async function databaseStats(
  dir: string,
  options: { fileSystem?: FileSystem; collection?: string; filter?: unknown } = {},
): Promise<StatsReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  // Parsed before anything is read: a bad filter is INVALID_ARGUMENT, not a half report.
  const matches: CompiledFilter | undefined =
    options.filter === undefined ? undefined : compileFilter(parseMongoFilter(options.filter));
  const snap = await pinSnapshot(dir, { fileSystem: fs });
  try {
    const { names, created } = await collectionNames(fs, snap);
    if (options.collection !== undefined && !names.has(options.collection)) {
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Collection "${options.collection}" does not exist in ${dir}.`,
        {
          collection: options.collection,
        },
      );
    }
    const collections: CollectionStatsReport[] = [];
    for (const name of [...names].sort()) {
      if (options.collection !== undefined && name !== options.collection) continue;
      const stats = await collectionStats(fs, snap, name, created.get(name), matches);
      if (stats !== undefined) collections.push(stats);
    }
    let walBytes = 0;
    for (const w of snap.walFiles) walBytes += w.bytes;
    let segmentBytes = 0;
    for (const name of snap.segmentFiles)
      segmentBytes += await fs.fileSize(`${snap.dir}/${SEGMENT_DIR}/${name}`);
    const writerPid = await liveLockOwner(fs, dir);
    return {
      path: dir,
      formatVersion: `${FORMAT_MAJOR}.${FORMAT_MINOR}`,
      lsn: snap.lsn,
      manifestGeneration: snap.manifest.generation,
      walStartLsn: snap.manifest.walStartLsn,
      checkpointLsn: snap.manifest.checkpointLsn,
      walFiles: snap.walFiles.length,
      walBytes,
      segmentFiles: snap.segmentFiles.length,
      segmentBytes,
      diskBytes: walBytes + segmentBytes + (snap.manifestBytes?.length ?? 0),
      points: collections.reduce((n, c) => n + c.points, 0),
      memoryEstimateBytes: collections.reduce((n, c) => n + c.memoryEstimateBytes, 0),
      writerPid,
      cleanlyClosed: await fs.exists(`${dir}/${CLEAN_MARK_FILE}`),
      collections,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await snap.release();
  }
}

/** The visible collections of the snapshot, and the configs of those created in its WAL. */
async function collectionNames(
  fs: FileSystem,
  snap: PinnedSnapshot,
): Promise<{ names: Set<string>; created: Map<string, JsonObject> }> {
  const names = new Set<string>(snap.manifest.collections.map((c) => jsonString(c.config['name'])));
  // Collections created after the last checkpoint are only in the WAL.
  const created = await walCollections(fs, snap.dir);
  for (const name of created.keys()) names.add(name);
  // Staging collections of a snapshot restore are hidden (engine/staging-name.ts).
  for (const name of names) if (isStagingName(name)) names.delete(name);
  return { names, created };
}

/** The quantization kind of a logged config (`none` when absent or unknown). */
function quantizationOf(config: JsonObject): Quantization {
  const q = config['quantization'];
  const kind = typeof q === 'object' && q !== null && !Array.isArray(q) ? q['kind'] : q;
  return kind === 'scalar' || kind === 'binary' || kind === 'product' ? kind : 'none';
}

/**
 * One collection's stats, its points counted (and matched) over the snapshot's view;
 * undefined when it does not exist at the snapshot's LSN (dropped in the WAL).
 */
async function collectionStats(
  fs: FileSystem,
  snap: PinnedSnapshot,
  name: string,
  createdConfig: JsonObject | undefined,
  matches: CompiledFilter | undefined,
): Promise<CollectionStatsReport | undefined> {
  const listed = snap.manifest.collections.find((c) => c.config['name'] === name);
  const config = listed?.config ?? createdConfig ?? {};
  let points = 0;
  let matching = 0;
  let dimension = Number(config['dimension'] ?? 0);
  try {
    for await (const p of snapshotPoints(fs, snap, name)) {
      points++;
      dimension = p.vector.length;
      if (matches?.(p.payload, p.id) === true) matching++;
    }
  } catch (e) {
    if (e instanceof QuiverError && e.code === 'COLLECTION_NOT_FOUND') return undefined;
    throw e;
  }
  const slotCounts: SlotCount[] = [];
  let sealedPoints = 0;
  let segmentBytes = 0;
  for (const s of listed?.segments ?? []) {
    slotCounts.push(await segmentSlotCount(fs, `${snap.dir}/${SEGMENT_DIR}`, s));
    sealedPoints += s.points;
    segmentBytes += s.bytes;
  }
  const hnsw = (config['hnsw'] ?? { m: 16, efConstruction: 200, efSearch: 64 }) as {
    m: number;
    efConstruction: number;
    efSearch: number;
  };
  return {
    name,
    createdAt: listed?.createdAt ?? createdAtOf(listed?.config ?? createdConfig ?? {}),
    dimension,
    metric: jsonString(config['metric'], 'unknown'),
    hnsw,
    points,
    segments: listed?.segments.length ?? 0,
    segmentBytes,
    deletedRatio: deletedShare(slotCounts),
    unsealedPoints: Math.max(0, points - sealedPoints),
    memoryEstimateBytes: estimateFootprint(
      points,
      Math.max(1, dimension),
      hnsw.m,
      quantizationOf(config),
      undefined,
      config['onDisk'] === true,
    ).ramBytes,
    ...(matches === undefined
      ? {}
      : { filter: { matching, selectivity: points === 0 ? 0 : matching / points } }),
  };
}

/**
 * The slots of one segment file (its header) and its live points (the manifest's count,
 * taken at the checkpoint together with the segment's tombstones): holes and tombstoned
 * slots are the difference, with no need to decode the file.
 */
async function segmentSlotCount(
  fs: FileSystem,
  segDir: string,
  segment: ManifestSegment,
): Promise<SlotCount> {
  const h = await fs.open(`${segDir}/${segment.file}`, 'read');
  try {
    const head = await h.read(16, 4);
    const slots = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
    return { slots, live: segment.points };
  } finally {
    await h.close();
  }
}

/** Configs of collections created in the snapshot's WAL, by name. */
async function walCollections(fs: FileSystem, dir: string): Promise<Map<string, JsonObject>> {
  const out = new Map<string, JsonObject>();
  await scanWal(fs, `${dir}/${WAL_DIR}`, {
    cleanlyClosed: false,
    onRecord: (r, file, offset) => {
      if (r.type !== WalRecordType.CREATE_COLLECTION && r.type !== WalRecordType.SWAP_COLLECTION)
        return;
      const op = decodeWalOp(r.type, r.body, file, offset);
      if (op.kind === 'create-collection') out.set(jsonString(op.config['name']), op.config);
      // A swap makes its target out of the staging collection's config.
      const staged = op.kind === 'swap-collection' ? out.get(op.staging) : undefined;
      if (op.kind === 'swap-collection' && staged !== undefined) {
        out.set(op.target, { ...staged, name: op.target });
      }
    },
  });
  return out;
}
