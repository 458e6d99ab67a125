/**
 * repair: salvages every readable point of a damaged database into a new database (never
 * modifying the source): each readable segment (minus its tombstones), then the intact WAL
 * records after it, replayed through the embedded API, so indexes are rebuilt. Reports
 * exactly what was lost — ids when the segment's id section is readable, else segment
 * and count — and the WAL records after the first bad one. Works without a manifest too.
 */
import { isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { JsonObject, MetricName, Payload, PointId } from '../common/types.js';
import { Quiver } from '../engine/quiver.js';
import { stagingTarget } from '../engine/staging-name.js';
import type { Collection } from '../engine/collection.js';
import type {
  CollectionChanges,
  CreateCollectionOptions,
  PointInput,
} from '../engine/validation.js';
import { MANIFEST_FILE, SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Manifest, ManifestSegment } from '../storage/manifest/manifest.js';
import { readManifest } from '../storage/manifest/manifest.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import { decodeSegment } from '../storage/segment/segment-file.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import type { LoggedPoint, WalOp } from '../storage/wal/wal-body-codec.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import { readCleanMark } from '../storage/clean-mark.js';
import { jsonString, prepareEmptyDir } from './ops-files.js';
import { readableIds, withoutGraph } from './segment-salvage.js';
import type { VerifyReport } from './verify.js';
import { verifyDatabase } from './verify.js';
import { describeWalGaps } from './wal-tools.js';

/** What could not be salvaged. */
export interface LostData {
  readonly file: string;
  readonly collection: string | undefined;
  readonly what: string;
  /** Points lost (from the manifest when the file is unreadable). */
  readonly points: number | undefined;
  /** Their ids, when readable (first 1000). */
  readonly ids: readonly PointId[] | undefined;
}

export interface RepairReport {
  readonly source: string;
  readonly output: string;
  readonly manifestReadable: boolean;
  readonly collections: readonly { readonly name: string; readonly points: number }[];
  readonly segmentsSalvaged: number;
  readonly walRecordsReplayed: number;
  readonly lost: readonly LostData[];
  /** Damage that lost nothing (e.g. a graph section: the index is rebuilt anyway). */
  readonly notes: readonly string[];
  readonly verify: VerifyReport;
  readonly duration_seconds: number;
}

interface SegmentRef {
  readonly collection: string | undefined;
  readonly seg: ManifestSegment | undefined;
  readonly file: string;
}

/** The output database being filled, and what was lost or noted on the way. */
interface Salvage {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly db: Quiver;
  // Staging collections of a restore (engine/staging-name.ts) are rebuilt as staging
  // collections: a SWAP_COLLECTION record in the WAL puts one in place, and one without
  // its swap is dropped at the end, as the engine's open would.
  readonly staged: Map<string, Collection>;
  readonly lost: LostData[];
  readonly notes: string[];
}

type PointOp = Exclude<
  WalOp,
  | { kind: 'create-collection' }
  | { kind: 'drop-collection' }
  | { kind: 'swap-collection' }
  | { kind: 'update-collection' }
>;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Salvages the database in `dir` into the new (empty) directory `out`. `dir` is only read;
 * stop a writer using it first (or repair a backup copy).
 */
export async function repairDatabase(
  dir: string,
  out: string,
  options: { fileSystem?: FileSystem; force?: boolean } = {},
): Promise<RepairReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  await prepareOutput(fs, dir, out, options.force === true);
  const lost: LostData[] = [];
  const manifest = await readManifestOrLoss(fs, dir, lost);
  const db = await Quiver.open(out, { autoCompact: false });
  const s: Salvage = { fs, dir, db, staged: new Map(), lost, notes: [] };
  let salvaged: number;
  let replayed: number;
  let counts: Map<string, number>;
  try {
    const refs = await segmentRefs(s, manifest);
    salvaged = await salvageSegments(s, refs);
    const ops = await scanIntactWal(s, manifest);
    replayed = await replayWal(s, ops, sealedThroughLsns(manifest));
    counts = await finishOutput(s);
  } finally {
    await db.close();
  }
  const verify = await verifyDatabase(out, { fileSystem: fs, online: false });
  return {
    source: dir,
    output: out,
    manifestReadable: manifest !== undefined,
    collections: [...counts].map(([name, points]) => ({ name, points })),
    segmentsSalvaged: salvaged,
    walRecordsReplayed: replayed,
    lost,
    notes: s.notes,
    verify,
    duration_seconds: (performance.now() - t0) / 1000,
  };
}

async function prepareOutput(
  fs: FileSystem,
  dir: string,
  out: string,
  force: boolean,
): Promise<void> {
  if (!(await fs.exists(dir))) {
    throw new QuiverError('INVALID_ARGUMENT', `Database directory ${dir} does not exist.`, {
      file: dir,
    });
  }
  await fs.mkdirp(out);
  await prepareEmptyDir(fs, out, force, 'Repair output');
}

async function readManifestOrLoss(
  fs: FileSystem,
  dir: string,
  lost: LostData[],
): Promise<Manifest | undefined> {
  try {
    return await readManifest(fs, dir);
  } catch (e) {
    lost.push({
      file: `${dir}/${MANIFEST_FILE}`,
      collection: undefined,
      what: `manifest unreadable (${errorText(e)}); collections rebuilt from segment headers with default index settings`,
      points: undefined,
      ids: undefined,
    });
    return undefined;
  }
}

function lookupCollection(s: Salvage, name: string): Collection | undefined {
  return s.staged.get(name) ?? (s.db.hasCollection(name) ? s.db.collection(name) : undefined);
}

/** The output collection `name`, created (as a staging collection for a staging name) if new. */
async function ensureCollection(
  s: Salvage,
  name: string,
  dimension: number,
  metric: MetricName,
  config?: JsonObject,
): Promise<Collection> {
  const existing = lookupCollection(s, name);
  if (existing !== undefined) return existing;
  const hnsw = (config?.['hnsw'] ?? undefined) as
    { m: number; efConstruction: number; efSearch: number } | undefined;
  // The salvaged collection is configured as the damaged one was (a quantization or onDisk
  // it cannot read is left out: the points matter more than the settings).
  const quantization = config?.['quantization'];
  const base = { dimension, metric, ...(hnsw === undefined ? {} : { hnsw }) };
  const full = {
    ...base,
    ...(quantization === undefined ? {} : { quantization }),
    ...(config?.['onDisk'] === true ? { onDisk: true } : {}),
  } as CreateCollectionOptions;
  const target = stagingTarget(name);
  const create = (options: CreateCollectionOptions): Promise<Collection> =>
    target === undefined
      ? s.db.createCollection(name, options)
      : s.db.createStagingCollection(target, options);
  const c = await create(full).catch((e: unknown) => {
    if (!isQuiverError(e) || e.code !== 'INVALID_ARGUMENT') throw e;
    return create(base);
  });
  if (target !== undefined) s.staged.set(name, c);
  return c;
}

/** The collection a manifest entry or a CREATE_COLLECTION record configures. */
async function ensureConfigured(s: Salvage, config: JsonObject): Promise<Collection> {
  const name = jsonString(config['name']);
  return ensureCollection(
    s,
    name,
    Number(config['dimension']),
    config['metric'] as MetricName,
    config,
  );
}

/**
 * Segments: the manifest's (their collections created), or every segment file when it is
 * unreadable.
 */
async function segmentRefs(s: Salvage, manifest: Manifest | undefined): Promise<SegmentRef[]> {
  const refs: SegmentRef[] = [];
  if (manifest !== undefined) {
    for (const c of manifest.collections) {
      const name = jsonString(c.config['name']);
      await ensureConfigured(s, c.config);
      for (const seg of c.segments) refs.push({ collection: name, seg, file: seg.file });
    }
  } else {
    for (const f of await s.fs.list(`${s.dir}/${SEGMENT_DIR}`)) {
      if (f.endsWith('.qseg')) refs.push({ collection: undefined, seg: undefined, file: f });
    }
  }
  return refs;
}

/** Upserts every readable segment's live points; returns how many segments were read. */
async function salvageSegments(s: Salvage, refs: readonly SegmentRef[]): Promise<number> {
  const allFiles = await s.fs.list(`${s.dir}/${SEGMENT_DIR}`);
  let salvaged = 0;
  for (const ref of refs) if (await salvageSegment(s, ref, allFiles)) salvaged++;
  return salvaged;
}

async function salvageSegment(
  s: Salvage,
  ref: SegmentRef,
  allFiles: readonly string[],
): Promise<boolean> {
  const path = `${s.dir}/${SEGMENT_DIR}/${ref.file}`;
  const bytes = await readSegmentBytes(s, ref, path);
  if (bytes === undefined) return false;
  const data = decodeSalvageable(s, ref, bytes, path);
  if (data === undefined) return false;
  const name = ref.collection ?? data.collection;
  const c = await ensureCollection(s, name, data.dimension, data.metric);
  const deleted = await readDeletedSlots(s, ref, allFiles, name);
  await upsertLiveSlots(c, data, deleted);
  return true;
}

async function readSegmentBytes(
  s: Salvage,
  ref: SegmentRef,
  path: string,
): Promise<Uint8Array | undefined> {
  try {
    return await s.fs.readFile(path);
  } catch (e) {
    s.lost.push({
      file: path,
      collection: ref.collection,
      what: `segment file unreadable: ${errorText(e)}`,
      points: ref.seg?.points,
      ids: undefined,
    });
    return undefined;
  }
}

/**
 * The segment decoded, else decoded without its graph section (noted), else undefined with
 * the loss recorded (its ids when that section is readable).
 */
function decodeSalvageable(
  s: Salvage,
  ref: SegmentRef,
  bytes: Uint8Array,
  path: string,
): SegmentData | undefined {
  let damage: string;
  try {
    return decodeSegment(bytes, path);
  } catch (e) {
    damage = errorText(e);
  }
  let salvaged;
  try {
    const stripped = withoutGraph(bytes);
    salvaged = stripped === undefined ? undefined : decodeSegment(stripped, path);
  } catch {
    salvaged = undefined;
  }
  if (salvaged !== undefined) {
    s.notes.push(
      `${path}: graph section damaged (${damage}); every point was read from the other sections and re-indexed`,
    );
    return salvaged;
  }
  const ids = readableIds(bytes);
  s.lost.push({
    file: path,
    collection: ref.collection,
    what: `segment damaged: ${damage}`,
    points: ids === undefined ? ref.seg?.points : ids.length,
    ids: ids?.slice(0, 1000),
  });
  return undefined;
}

/** Tombstones: the manifest's generation, or the newest file for this segment. */
async function readDeletedSlots(
  s: Salvage,
  ref: SegmentRef,
  allFiles: readonly string[],
  name: string,
): Promise<Set<number>> {
  const deleted = new Set<number>();
  const tomb =
    ref.seg !== undefined
      ? ref.seg.tombstones
      : (allFiles
          .filter((f) => f.startsWith(ref.file.replace('.qseg', '.')) && f.endsWith('.tomb'))
          .pop() ?? null);
  if (tomb === null) return deleted;
  const tpath = `${s.dir}/${SEGMENT_DIR}/${tomb}`;
  try {
    for (const slot of decodeTombstones(await s.fs.readFile(tpath), tpath).slots) deleted.add(slot);
  } catch (e) {
    s.lost.push({
      file: tpath,
      collection: name,
      what: `tombstones unreadable (${errorText(e)}): points deleted from this segment may reappear`,
      points: 0,
      ids: undefined,
    });
  }
  return deleted;
}

async function upsertLiveSlots(
  c: Collection,
  data: SegmentData,
  deleted: ReadonlySet<number>,
): Promise<void> {
  const dim = data.dimension;
  let batch: { id: PointId; vector: Float32Array; payload: Payload }[] = [];
  for (let slot = 0; slot < data.ids.length; slot++) {
    const id = data.ids[slot];
    if (id === undefined || deleted.has(slot)) continue;
    const json = data.payloads[slot]!;
    batch.push({
      id,
      vector: data.vectors.slice(slot * dim, (slot + 1) * dim),
      payload: json === '' ? {} : (JSON.parse(json) as Payload),
    });
    if (batch.length >= 1024) {
      await c.upsert(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await c.upsert(batch);
}

/** The WAL after the segments, up to the first bad record; what is past it is recorded lost. */
async function scanIntactWal(
  s: Salvage,
  manifest: Manifest | undefined,
): Promise<{ lsn: number; op: WalOp }[]> {
  const ops: { lsn: number; op: WalOp }[] = [];
  const walDir = `${s.dir}/${WAL_DIR}`;
  const scan = await scanWal(s.fs, walDir, {
    cleanlyClosed: false,
    stopAtDamage: true,
    fromLsn: manifest?.walStartLsn ?? 1,
    onRecord: (r, file, offset) => {
      try {
        ops.push({ lsn: r.lsn, op: decodeWalOp(r.type, r.body, file, offset) });
      } catch (e) {
        s.lost.push({
          file,
          collection: undefined,
          what: `WAL record ${r.lsn} at offset ${offset} does not decode: ${errorText(e)}`,
          points: undefined,
          ids: undefined,
        });
      }
    },
  });
  // Log files that are gone lost their writes: the continuity check names the range.
  const mark = await readCleanMark(s.fs, s.dir).catch(() => undefined);
  const gaps = describeWalGaps(scan, manifest, mark, walDir);
  for (const g of gaps) {
    s.lost.push({
      file: walDir,
      collection: undefined,
      what: `WAL records ${g.what}; their writes could not be replayed`,
      points: undefined,
      ids: undefined,
    });
  }
  if (scan.tornTail !== undefined) {
    s.lost.push({
      file: scan.tornTail.file,
      collection: undefined,
      what: `WAL damaged at offset ${scan.tornTail.offset} (${scan.tornTail.reason}); ${scan.tornTail.droppedBytes} bytes after it (and later WAL files) not replayed`,
      points: undefined,
      ids: undefined,
    });
  }
  return ops;
}

function sealedThroughLsns(manifest: Manifest | undefined): Map<string, number> {
  const sealedThrough = new Map<string, number>();
  for (const c of manifest?.collections ?? [])
    sealedThrough.set(jsonString(c.config['name']), c.sealedThroughLsn);
  return sealedThrough;
}

/** Replays the records not already in a sealed segment; returns the point records replayed. */
async function replayWal(
  s: Salvage,
  ops: readonly { lsn: number; op: WalOp }[],
  sealedThrough: ReadonlyMap<string, number>,
): Promise<number> {
  let replayed = 0;
  const sealed = (name: string, lsn: number): boolean => lsn <= (sealedThrough.get(name) ?? 0);
  for (const { lsn, op } of ops) {
    if (op.kind === 'create-collection') {
      if (lookupCollection(s, jsonString(op.config['name'])) === undefined)
        await ensureConfigured(s, op.config);
      continue;
    }
    if (op.kind === 'drop-collection') {
      const c = lookupCollection(s, op.name);
      if (c === undefined || sealed(op.name, lsn)) continue;
      if (s.staged.delete(op.name)) await s.db.dropStagingCollection(c);
      else await s.db.dropCollection(op.name);
      continue;
    }
    if (op.kind === 'update-collection') {
      // The salvaged collection takes the quantization and onDisk the record changed.
      const name = jsonString(op.config['name']);
      if (!s.db.hasCollection(name) || sealed(name, lsn)) continue;
      const { quantization, onDisk } = op.config;
      await s.db.updateCollection(name, { quantization, onDisk } as CollectionChanges);
      continue;
    }
    if (op.kind === 'swap-collection') {
      const c = s.staged.get(op.staging);
      if (c === undefined || sealed(op.target, lsn)) continue;
      s.staged.delete(op.staging);
      await s.db.swapCollection(c);
      continue;
    }
    const c = lookupCollection(s, op.collection);
    if (sealed(op.collection, lsn) || c === undefined) continue;
    await replayPointOp(c, op);
    replayed++;
  }
  return replayed;
}

async function replayPointOp(c: Collection, op: PointOp): Promise<void> {
  const inputs = (points: readonly LoggedPoint[]): PointInput[] =>
    points.map((p) => ({
      id: p.id,
      vector: p.vector,
      payload: p.payloadJson === '' ? {} : (JSON.parse(p.payloadJson) as Payload),
    }));
  if (op.kind === 'upsert') {
    await c.upsert(inputs(op.points));
  } else if (op.kind === 'replace') {
    await c.replace(inputs(op.points), op.deletes);
  } else if (op.kind === 'delete') {
    await c.delete(op.ids);
  } else if (op.mode === 'merge') {
    await c.setPayload(op.ids, JSON.parse(op.payloadJson) as Payload);
  } else if (op.mode === 'overwrite') {
    await c.overwritePayload(op.ids, JSON.parse(op.payloadJson) as Payload);
  } else if (op.mode === 'delete-keys') {
    await c.deletePayloadKeys(op.ids, op.keys);
  } else {
    await c.clearPayload(op.ids);
  }
}

/** Drops staging collections left without their swap, seals, and counts the points. */
async function finishOutput(s: Salvage): Promise<Map<string, number>> {
  for (const c of s.staged.values()) await s.db.dropStagingCollection(c);
  await s.db.checkpoint();
  const counts = new Map<string, number>();
  for (const c of await s.db.listCollections()) counts.set(c.name, c.points);
  return counts;
}
