/**
 * The doctor of a synced collection: compares it with its source folder and checks the
 * points themselves. Findings are PASS, INFO or FAIL with counts and example ids:
 *   orphans    points whose source file is gone (or now skipped)
 *   drift      points whose file is there but no longer holds their chunk
 *   missing    chunks of the source not embedded (with coverage %)
 *   content    stored text that no longer matches its stored hash
 *   vectors    zero or non-finite vectors
 *   embedders  more than one embedder (provider, model, dimension) in one collection, or
 *              one whose dimension is not the collection's: searches mixing them rank wrong
 *   metadata   points missing a required payload field
 *   deep-scan  a sample re-embedded now no longer matches its stored vector: the
 *              embedding function changed
 *   dimension  the embedder of a deep scan gives vectors of another size than the stored
 *              ones: its settings (or the model) differ, nothing could be compared
 * and INFO only: checkpoint (damaged), source (none known), skipped (files the source
 * walk or read passed over), foreign (points sync did not write).
 * `fix` deletes orphaned, drifted and damaged points and then runs a sync, which embeds
 * what is missing (within its cost limit); the checks run again after it.
 */
import { isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { JsonValue, PointId } from '../common/types.js';
import type { PointRecord } from '../engine/collection-types.js';
import { checkCollectionName } from '../engine/validation.js';
import { sha256 } from '../ops/ops-files.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Embedder } from './embedder.js';
import type { SourceOptions } from './source-plan.js';
import { planSource } from './source-plan.js';
import { loadCheckpoint } from './sync-checkpoint.js';
import type { SyncProgress } from './sync.js';
import { syncDocuments } from './sync.js';
import type { SyncCollection, SyncStore } from './sync-store.js';

export type FindingStatus = 'PASS' | 'INFO' | 'FAIL';
export type FindingKind =
  | 'checkpoint'
  | 'source'
  | 'skipped'
  | 'foreign'
  | 'orphans'
  | 'drift'
  | 'missing'
  | 'content'
  | 'vectors'
  | 'embedders'
  | 'metadata'
  | 'deep-scan'
  | 'dimension';

export interface Finding {
  readonly kind: FindingKind;
  readonly status: FindingStatus;
  readonly count: number;
  readonly message: string;
  /** Up to 5 point ids (or paths) that show it. */
  readonly examples: readonly (PointId | string)[];
}

export interface DoctorOptions extends Partial<SourceOptions> {
  readonly collection: string;
  /** Payload fields (dot paths) every point must have. Default: the ones sync writes. */
  readonly requiredFields?: readonly string[];
  /** Needed to embed missing chunks with `fix`, and for `deepScan`. */
  readonly embedder?: Embedder;
  readonly fix?: boolean;
  readonly deepScan?: boolean;
  /** Cost limit and price for the sync `fix` runs. */
  readonly maxCost?: number;
  readonly pricePer1kTokens?: number;
  readonly fileSystem?: FileSystem;
  /** Stops a `fix`'s embedding between batches once aborted (see SyncOptions.signal). */
  readonly signal?: AbortSignal;
  /** Hears where the doctor is: points read, and the fix's sync progress. */
  readonly onProgress?: (p: DoctorProgress) => void;
}

/** Where a doctor run is (a server job's `progress`). */
export interface DoctorProgress {
  /** `examining` (or `checking again` after a fix), then `fixing`. */
  readonly phase: 'examining' | 'fixing' | 'checking again';
  readonly pointsRead: number;
  readonly points: number;
  /** The fix's embedding, once it runs. */
  readonly sync?: SyncProgress;
}

export interface DoctorReport {
  readonly collection: string;
  readonly source: string | undefined;
  readonly points: number;
  /** Chunks the source gives and the share of them embedded (source known). */
  readonly expectedChunks: number | undefined;
  readonly coverage: number | undefined;
  readonly findings: readonly Finding[];
  /** With `fix`: what was planned and done, and the findings before it. */
  readonly fix?: {
    readonly deleted: number;
    readonly embedded: number;
    readonly before: readonly Finding[];
    readonly stopped?: string;
  };
  /** True when no finding is FAIL. */
  readonly ok: boolean;
}

export const DEFAULT_REQUIRED_FIELDS = ['source', 'content_hash', 'text', 'embedder'];
/** Points re-embedded by a deep scan, and the similarity under which it fails. */
const DEEP_SCAN_SAMPLE = 16;
const DEEP_SCAN_MIN_SIMILARITY = 0.98;
const EXAMPLES = 5;
const PAGE = 1000;

/** Examines `collection` (and fixes it with `fix`). */
export async function doctorCollection(db: SyncStore, o: DoctorOptions): Promise<DoctorReport> {
  const fs = o.fileSystem ?? new NodeFileSystem();
  checkCollectionName(o.collection);
  const collection = db.collection(o.collection);
  const first = await examine(db, collection, o, fs, 'examining');
  if (o.fix !== true) return first.report;
  // Before anything is deleted: the gaps must be filled by the embedder that made the rest.
  await checkFixEmbedder(db, o, fs, collection.config.dimension);
  const deleted = first.toDelete.length;
  if (deleted > 0) await collection.delete(first.toDelete);
  let embedded = 0;
  let stopped: string | undefined;
  if (first.source !== undefined && o.embedder !== undefined) {
    const points = first.report.points;
    o.onProgress?.({ phase: 'fixing', pointsRead: points, points });
    const r = await syncDocuments(db, {
      ...first.source,
      collection: o.collection,
      embedder: o.embedder,
      fileSystem: fs,
      ...(o.maxCost === undefined ? {} : { maxCost: o.maxCost }),
      ...(o.pricePer1kTokens === undefined ? {} : { pricePer1kTokens: o.pricePer1kTokens }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      onProgress: (sync) => o.onProgress?.({ phase: 'fixing', pointsRead: points, points, sync }),
    });
    embedded = r.chunks.embedded;
    stopped = r.stopped?.message;
  }
  const after = await examine(db, collection, o, fs, 'checking again');
  return {
    ...after.report,
    fix: {
      deleted,
      embedded,
      before: first.report.findings,
      ...(stopped === undefined ? {} : { stopped }),
    },
  };
}

interface Examination {
  readonly report: DoctorReport;
  /** Points `fix` deletes: orphaned, drifted, damaged. */
  readonly toDelete: PointId[];
  /** The source as planned (undefined when unknown). */
  readonly source: SourceOptions | undefined;
}

async function examine(
  db: SyncStore,
  c: SyncCollection,
  o: DoctorOptions,
  fs: FileSystem,
  phase: DoctorProgress['phase'],
): Promise<Examination> {
  const points = await allPoints(c, (pointsRead, total) =>
    o.onProgress?.({ phase, pointsRead, points: total }),
  );
  const findings: Finding[] = [];
  const toDelete = new Set<PointId>();
  const saved = await loadCheckpoint(fs, db.path, o.collection);
  if (saved === 'damaged') {
    findings.push(
      finding(
        'checkpoint',
        'INFO',
        1,
        'the sync checkpoint is damaged; it was ignored (the collection is the truth)',
        [],
      ),
    );
  }
  const source = sourceOf(o, saved === 'none' || saved === 'damaged' ? undefined : saved);
  let expected: number | undefined;
  let coverage: number | undefined;
  if (source === undefined) {
    findings.push(
      finding(
        'source',
        'INFO',
        0,
        'no source folder known (pass --source, or sync once): orphans, drift and gaps were not checked',
        [],
      ),
    );
  } else {
    const r = await compareWithSource(fs, source, points, findings, toDelete);
    expected = r.expected;
    coverage = r.coverage;
  }
  checkPoints(c, points, o, findings, toDelete);
  if (o.deepScan === true) findings.push(await deepScan(points, o.embedder, c.config.dimension));
  const report: DoctorReport = {
    collection: o.collection,
    source: source?.source,
    points: points.length,
    expectedChunks: expected,
    coverage,
    findings,
    ok: findings.every((f) => f.status !== 'FAIL'),
  };
  return { report, toDelete: [...toDelete], source };
}

/**
 * Refuses a fix whose embedder is not the one the collection was synced with (the last
 * sync's, else the points' own): its vectors would not rank with the others.
 */
async function checkFixEmbedder(
  db: SyncStore,
  o: DoctorOptions,
  fs: FileSystem,
  dimension: number,
): Promise<void> {
  const e = o.embedder;
  if (e === undefined) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      'a fix embeds missing chunks: it needs the embedder the collection was synced with.',
      { collection: o.collection },
    );
  }
  const saved = await loadCheckpoint(fs, db.path, o.collection);
  const want = typeof saved === 'object' ? saved.embedder : undefined;
  const dim = e.dimension ?? want?.dimension ?? dimension;
  const differs =
    dim !== dimension ||
    (want !== undefined && (want.provider !== e.provider || want.model !== e.model));
  if (differs) {
    const was =
      want === undefined
        ? `${dimension} values`
        : `${want.provider} ${want.model} (${want.dimension ?? dimension} values)`;
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `"${o.collection}" was synced with ${was}, not ${e.provider} ${e.model} (${dim} values): pass the same embedder flags to --fix (nothing was deleted).`,
      { collection: o.collection },
    );
  }
}

function finding(
  kind: FindingKind,
  status: FindingStatus,
  count: number,
  message: string,
  examples: readonly (PointId | string)[],
): Finding {
  return { kind, status, count, message, examples: examples.slice(0, EXAMPLES) };
}

/** Every point with its payload and vector, read in pages; `read` hears after each. */
async function allPoints(
  c: SyncCollection,
  read: (done: number, total: number) => void,
): Promise<PointRecord[]> {
  const ids = await c.ids();
  const out: PointRecord[] = [];
  read(0, ids.length);
  for (let i = 0; i < ids.length; i += PAGE) {
    out.push(...(await c.getMany(ids.slice(i, i + PAGE), { withVector: true })));
    read(out.length, ids.length);
  }
  return out;
}

/** The options' source, else the one the last sync recorded (with its chunk settings). */
function sourceOf(
  o: DoctorOptions,
  saved: Exclude<Awaited<ReturnType<typeof loadCheckpoint>>, 'none' | 'damaged'> | undefined,
): SourceOptions | undefined {
  const folder = o.source ?? saved?.source;
  if (folder === undefined) return undefined;
  const include = o.include ?? saved?.include;
  const exclude = o.exclude ?? saved?.exclude;
  const maxFileBytes = o.maxFileBytes ?? saved?.maxFileBytes;
  const chunk = o.chunk ?? saved?.chunk;
  return {
    source: folder,
    ...(include === undefined ? {} : { include }),
    ...(exclude === undefined ? {} : { exclude }),
    ...(maxFileBytes === undefined ? {} : { maxFileBytes }),
    ...(chunk === undefined ? {} : { chunk }),
  };
}

async function compareWithSource(
  fs: FileSystem,
  source: SourceOptions,
  points: readonly PointRecord[],
  findings: Finding[],
  toDelete: Set<PointId>,
): Promise<{ expected: number; coverage: number }> {
  const { plans, skipped } = await planSource(fs, source);
  const files = new Set(plans.map((p) => p.path));
  const wanted = new Set(plans.flatMap((p) => p.chunks.map((c) => c.id)));
  const have = new Set(points.map((p) => String(p.id)));
  const orphans: PointId[] = [];
  const drift: PointId[] = [];
  const foreign: PointId[] = [];
  for (const p of points) {
    const path = p.payload['source'];
    if (typeof path !== 'string') foreign.push(p.id);
    else if (!files.has(path)) orphans.push(p.id);
    else if (!wanted.has(String(p.id))) drift.push(p.id);
  }
  const missing = [...wanted].filter((id) => !have.has(id));
  const coverage = wanted.size === 0 ? 1 : (wanted.size - missing.length) / wanted.size;
  for (const id of [...orphans, ...drift]) toDelete.add(id);
  const pct = `${(coverage * 100).toFixed(1)} %`;
  findings.push(
    orphans.length === 0
      ? finding('orphans', 'PASS', 0, 'every point’s source file is there', [])
      : finding(
          'orphans',
          'FAIL',
          orphans.length,
          `${orphans.length} points come from files that are gone or now skipped; --fix deletes them`,
          orphans,
        ),
    drift.length === 0
      ? finding('drift', 'PASS', 0, 'no point holds text its file no longer has', [])
      : finding(
          'drift',
          'FAIL',
          drift.length,
          `${drift.length} points hold chunks their file no longer has (the file changed); --fix deletes them and embeds the new chunks`,
          drift,
        ),
    missing.length === 0
      ? finding(
          'missing',
          'PASS',
          0,
          `coverage ${pct}: every chunk of ${plans.length} files is embedded`,
          [],
        )
      : finding(
          'missing',
          'FAIL',
          missing.length,
          `coverage ${pct}: ${missing.length} of ${wanted.size} chunks are not embedded; --fix embeds them`,
          missing,
        ),
  );
  if (skipped.length > 0) {
    findings.push(
      finding(
        'skipped',
        'INFO',
        skipped.length,
        `${skipped.length} files are skipped (${skipped
          .map((s) => `${s.path}: ${s.reason}`)
          .slice(0, EXAMPLES)
          .join(', ')})`,
        skipped.map((s) => s.path),
      ),
    );
  }
  if (foreign.length > 0) {
    findings.push(
      finding(
        'foreign',
        'INFO',
        foreign.length,
        `${foreign.length} points have no source field: they were not written by sync and are left alone`,
        foreign,
      ),
    );
  }
  return { expected: wanted.size, coverage };
}

/** The checks of the points themselves: content hashes, vectors, embedders, metadata. */
function checkPoints(
  c: SyncCollection,
  points: readonly PointRecord[],
  o: DoctorOptions,
  findings: Finding[],
  toDelete: Set<PointId>,
): void {
  const badText: PointId[] = [];
  const badVectors: PointId[] = [];
  const embedders = new Map<string, PointId[]>();
  const missingFields = new Map<string, PointId[]>();
  const required = o.requiredFields ?? DEFAULT_REQUIRED_FIELDS;
  for (const p of points) {
    const text = p.payload['text'];
    const hash = p.payload['content_hash'];
    if (typeof text === 'string' && typeof hash === 'string' && sha256(text) !== hash)
      badText.push(p.id);
    if (!p.vector.every(Number.isFinite) || p.vector.every((x) => x === 0)) badVectors.push(p.id);
    const e = p.payload['embedder'];
    if (e !== undefined) {
      const key = JSON.stringify(e);
      embedders.set(key, [...(embedders.get(key) ?? []), p.id]);
    }
    // Required fields are sync's: points written some other way are left alone.
    if (typeof p.payload['source'] !== 'string') continue;
    for (const field of required) {
      if (fieldOf(p.payload, field) === undefined)
        missingFields.set(field, [...(missingFields.get(field) ?? []), p.id]);
    }
  }
  for (const id of [...badText, ...badVectors]) toDelete.add(id);
  findings.push(
    badText.length === 0
      ? finding('content', 'PASS', 0, 'every stored text matches its hash', [])
      : finding(
          'content',
          'FAIL',
          badText.length,
          `${badText.length} points hold text that does not match their content_hash (damaged); --fix deletes them and embeds their chunks again`,
          badText,
        ),
    badVectors.length === 0
      ? finding('vectors', 'PASS', 0, 'no zero or non-finite vectors', [])
      : finding(
          'vectors',
          'FAIL',
          badVectors.length,
          `${badVectors.length} points have a zero or non-finite vector; --fix deletes them and embeds their chunks again`,
          badVectors,
        ),
    embedderFinding(embedders, c.config.dimension),
  );
  findings.push(
    missingFields.size === 0
      ? finding('metadata', 'PASS', 0, `every point has ${required.join(', ')}`, [])
      : finding(
          'metadata',
          'FAIL',
          [...missingFields.values()].reduce((n, ids) => n + ids.length, 0),
          `missing payload fields: ${[...missingFields].map(([f, ids]) => `${f} (${ids.length} points)`).join(', ')}`,
          [...missingFields.values()].flat(),
        ),
  );
}

function embedderFinding(embedders: Map<string, PointId[]>, dimension: number): Finding {
  const groups = [...embedders].map(([key, ids]) => ({
    e: JSON.parse(key) as { dimension?: JsonValue },
    key,
    ids,
  }));
  const wrongDim = groups.filter((g) => g.e.dimension !== undefined && g.e.dimension !== dimension);
  if (groups.length > 1 || wrongDim.length > 0) {
    const list = groups.map((g) => `${g.key} × ${g.ids.length}`).join('; ');
    const ids = groups.slice(1).flatMap((g) => g.ids);
    return finding(
      'embedders',
      'FAIL',
      groups.length,
      `the points were embedded by ${groups.length} embedders (${list})${wrongDim.length > 0 ? `, some with a dimension other than the collection's ${dimension}` : ''}: searches mixing them rank wrong. Re-embed into a new collection with one embedder.`,
      ids,
    );
  }
  return finding(
    'embedders',
    'PASS',
    groups.length,
    groups.length === 0 ? 'no embedder recorded' : `one embedder: ${groups[0]!.key}`,
    [],
  );
}

/**
 * Re-embeds a sample and compares it with the stored vectors. An embedder whose vectors
 * have another size than the stored ones is a `dimension` finding, not a changed model:
 * nothing could be compared (the flags name another dimension, or the model's changed).
 */
async function deepScan(
  points: readonly PointRecord[],
  embedder: Embedder | undefined,
  dimension: number,
): Promise<Finding> {
  if (embedder === undefined)
    return finding('deep-scan', 'INFO', 0, 'a deep scan needs an embedder (--embedder …)', []);
  const what = `${embedder.provider} ${embedder.model}`;
  const mismatch = (gives: number | string): Finding =>
    finding(
      'dimension',
      'FAIL',
      1,
      `deep scan: ${what} gives ${gives}-value vectors but the collection holds ${dimension}-value ones, so nothing was compared. Pass the dimension the collection was synced with (--dimension ${dimension}, or the same model); if the model itself now answers another size, re-embed into a new collection.`,
      [],
    );
  if (embedder.dimension !== undefined && embedder.dimension !== dimension)
    return mismatch(embedder.dimension);
  // Only sound points the same embedder made: damaged ones have findings of their own, and
  // another model's vectors are expected to differ.
  const same = (e: JsonValue | undefined): boolean =>
    e !== null &&
    typeof e === 'object' &&
    !Array.isArray(e) &&
    e['provider'] === embedder.provider &&
    e['model'] === embedder.model;
  const sample = points
    .filter((p) => {
      const text = p.payload['text'];
      return (
        typeof text === 'string' &&
        sha256(text) === p.payload['content_hash'] &&
        p.vector.some((x) => x !== 0) &&
        same(p.payload['embedder'])
      );
    })
    .filter((_, i, all) => i % Math.max(1, Math.floor(all.length / DEEP_SCAN_SAMPLE)) === 0)
    .slice(0, DEEP_SCAN_SAMPLE);
  if (sample.length === 0)
    return finding('deep-scan', 'INFO', 0, 'no point with text to re-embed', []);
  let vectors: readonly Float32Array[];
  try {
    ({ vectors } = await embedder.embed(sample.map((p) => p.payload['text'] as string)));
  } catch (e) {
    // An embedder that checks its answers' size refuses them before any comparison.
    if (isQuiverError(e, 'DIMENSION_MISMATCH')) {
      const received = e.details.received;
      return mismatch(typeof received === 'number' ? received : 'other');
    }
    throw e;
  }
  const wrongSize = vectors.find((v, i) => v.length !== sample[i]!.vector.length);
  if (wrongSize !== undefined) return mismatch(wrongSize.length);
  const low: PointId[] = [];
  let worst = 1;
  sample.forEach((p, i) => {
    const s = cosine(p.vector, vectors[i]!);
    worst = Math.min(worst, s);
    if (!(s >= DEEP_SCAN_MIN_SIMILARITY)) low.push(p.id);
  });
  const scanned = `${sample.length} points re-embedded with ${what}`;
  return low.length === 0
    ? finding(
        'deep-scan',
        'PASS',
        sample.length,
        `${scanned}: lowest similarity to the stored vectors ${worst.toFixed(4)}`,
        [],
      )
    : finding(
        'deep-scan',
        'FAIL',
        low.length,
        `${scanned}: ${low.length} below ${DEEP_SCAN_MIN_SIMILARITY} (lowest ${worst.toFixed(4)}): the embedding function changed since they were stored. Re-embed everything into a new collection.`,
        low,
      );
}

function cosine(a: readonly number[], b: Float32Array): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

function fieldOf(payload: PointRecord['payload'], path: string): JsonValue | undefined {
  let v: JsonValue | undefined = payload;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, JsonValue>)[key];
  }
  return v === null ? undefined : v;
}
