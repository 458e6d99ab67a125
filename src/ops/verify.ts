/**
 * verify: the invariant checker behind `quiver verify`, the admin integrity check and the
 * test suite (aesthetics convention 11). Never takes the writer's lock and never changes a
 * byte of the database: while a writer holds the directory it checks a pinned snapshot
 * (ops/snapshot.ts). Checks every checksum, every manifest reference, segment invariants
 * (unique ids, dimensions, finite values, graph edges in range, graph vectors, every live
 * point reachable from the entry point), tombstones, and WAL continuity. Damage is a
 * problem in the typed report, each naming file, offset and the action to take. With
 * `collections`, only those collections' segments are checked; the WAL, which all
 * collections share, is always checked whole.
 */
import { corrupt, isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { PointId } from '../common/types.js';
import { loadIndex } from '../engine/index-factory.js';
import { readCleanMark } from '../storage/clean-mark.js';
import {
  LOCK_FILE,
  MANIFEST_FILE,
  SEGMENT_DIR,
  SegmentSection,
  WAL_DIR,
} from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import { readManifest } from '../storage/manifest/manifest.js';
import { decodeSegment } from '../storage/segment/segment-file.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import { stagingTarget } from '../engine/staging-name.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import { checkGraph, segmentSections } from './graph-check.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';
import { pinSnapshot, removeDeadPins } from './snapshot.js';
import { describeWalGaps } from './wal-tools.js';

/** One thing wrong, with where it is and what to do about it. */
export interface VerifyProblem {
  readonly severity: 'error' | 'warning';
  /** The damaged file (path in the database directory). */
  readonly file: string;
  /** Byte offset of the damage in `file`, when known. */
  readonly offset: number | undefined;
  readonly what: string;
  /** The suggested action. */
  readonly action: string;
}

/** The report of {@link verifyDatabase}; `quiver verify --json` prints it as is. */
export interface VerifyReport {
  readonly status: 'ok' | 'problems';
  readonly checked_vectors: number;
  readonly checked_segments: number;
  readonly checked_wal_records: number;
  readonly errors: number;
  readonly warnings: number;
  readonly duration_seconds: number;
  /** True when a writer held the directory and a pinned snapshot was checked. */
  readonly online: boolean;
  /** The LSN the checked view ends at. */
  readonly lsn: number;
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyOptions {
  readonly fileSystem?: FileSystem;
  /**
   * Check a pinned snapshot instead of the directory itself: `true`, `false`, or `'auto'`
   * (default: when a LOCK file says a writer may be running).
   */
  readonly online?: boolean | 'auto';
  readonly progress?: ProgressFn;
  /**
   * Check only these collections' segments (the WAL is always checked whole). A name that
   * is neither in the manifest nor created in the WAL is COLLECTION_NOT_FOUND.
   */
  readonly collections?: readonly string[];
}

/** Suggested actions, one wording each. */
export const ACTIONS = Object.freeze({
  restore:
    'restore the database from a backup ("quiver backup restore"), or salvage the readable points with "quiver repair DIR -o NEW"',
  repairSegment:
    'run "quiver repair DIR -o NEW" to salvage every other point (this segment\'s readable points are kept where possible), or restore from a backup',
  walRecover:
    'run "quiver wal recover DIR --skip-corrupted" to cut the log at the damage (it lists what is dropped), or restore from a backup',
  compact:
    'run "quiver compact DIR" to rebuild the collection\'s graph (search cannot return these points until then)',
  none: 'none: the next open handles it',
});

function fromError(e: unknown, fallbackFile: string, action: string): VerifyProblem {
  if (isQuiverError(e)) {
    const file = typeof e.details.file === 'string' ? e.details.file : fallbackFile;
    const offset = typeof e.details.offset === 'number' ? e.details.offset : undefined;
    return { severity: 'error', file, offset, what: e.message, action };
  }
  return {
    severity: 'error',
    file: fallbackFile,
    offset: undefined,
    what: e instanceof Error ? e.message : String(e),
    action,
  };
}

function preview(slots: readonly number[]): string {
  return slots.length <= 8 ? slots.join(', ') : `${slots.slice(0, 8).join(', ')}, …`;
}

/** Checks one sealed segment (and its tombstones); returns the live points counted. */
async function checkSegment(
  fs: FileSystem,
  dir: string,
  collection: { name: string; dimension: number },
  s: Manifest['collections'][number]['segments'][number],
  seen: Map<PointId, string>,
  problems: VerifyProblem[],
): Promise<number> {
  const path = `${dir}/${SEGMENT_DIR}/${s.file}`;
  const bytes = await fs.readFile(path);
  const data = decodeSegment(bytes, path);
  // A segment taken over at a swap keeps its staging name in its header (format 1.2).
  if (data.segmentId !== s.id || data.collection !== (s.collection ?? collection.name)) {
    throw corrupt(path, 8, 'segment header (id or collection) does not match the manifest');
  }
  if (data.dimension !== collection.dimension) {
    throw corrupt(
      path,
      20,
      `segment dimension ${data.dimension} differs from the collection's ${collection.dimension}`,
    );
  }
  const sections = segmentSections(bytes);
  const sectionAt = (kind: number): number => sections.find((x) => x.kind === kind)?.offset ?? 0;
  const deleted = new Set<number>();
  if (s.tombstones !== null) {
    const tpath = `${dir}/${SEGMENT_DIR}/${s.tombstones}`;
    try {
      const t = decodeTombstones(await fs.readFile(tpath), tpath);
      if (t.segmentId !== s.id) throw corrupt(tpath, 8, 'tombstones belong to another segment');
      if (t.generation !== s.tombstoneGeneration) {
        throw corrupt(
          tpath,
          16,
          `tombstone generation ${t.generation} differs from the manifest's ${s.tombstoneGeneration}`,
        );
      }
      let prev = -1;
      for (let i = 0; i < t.slots.length; i++) {
        const slot = t.slots[i]!;
        if (slot >= data.ids.length || slot <= prev) {
          throw corrupt(
            tpath,
            24 + 4 * i,
            `tombstone slot ${slot} is out of range or out of order`,
          );
        }
        prev = slot;
        deleted.add(slot);
      }
    } catch (e) {
      problems.push(fromError(e, tpath, ACTIONS.repairSegment));
    }
  }
  const dim = data.dimension;
  const vecBase = sectionAt(SegmentSection.VECTORS);
  for (let i = 0; i < data.vectors.length; i++) {
    if (!Number.isFinite(data.vectors[i]!)) {
      const slot = Math.floor(i / dim);
      throw corrupt(path, vecBase + 4 * i, `vector value ${i % dim} of slot ${slot} is not finite`);
    }
  }
  let live = 0;
  for (let slot = 0; slot < data.ids.length; slot++) {
    const id = data.ids[slot];
    if (id === undefined || deleted.has(slot)) continue;
    live++;
    const other = seen.get(id);
    if (other !== undefined) {
      problems.push({
        severity: 'error',
        file: path,
        offset: sectionAt(SegmentSection.IDS),
        what: `point ${JSON.stringify(id)} of collection "${collection.name}" is live in both ${other} and ${s.file}`,
        action: ACTIONS.repairSegment,
      });
    }
    seen.set(id, s.file);
    const json = data.payloads[slot]!;
    if (json !== '') {
      try {
        const v: unknown = JSON.parse(json);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError();
      } catch {
        throw corrupt(
          path,
          sectionAt(SegmentSection.PAYLOADS),
          `payload of slot ${slot} is not a JSON object`,
        );
      }
    }
  }
  if (live !== s.points) {
    problems.push({
      severity: 'warning',
      file: path,
      offset: undefined,
      what: `the manifest counts ${s.points} live points in segment ${s.id}, the files hold ${live}`,
      action: 'none: counts are advisory; the next checkpoint rewrites them',
    });
  }
  // Loading the graph checks its checksum and that every edge is in range.
  loadIndex(data, path);
  if (data.graph !== undefined) {
    const g = checkGraph(
      data.graph,
      (slot) => data.ids[slot] !== undefined && !deleted.has(slot),
      data.vectors,
    );
    const graphAt = sectionAt(SegmentSection.GRAPH);
    // A graph ends at its last indexed slot: slots past it must be holes (points deleted
    // or replaced before they were ever indexed need no node, and a seal writes none).
    const trailingLive = data.ids.slice(g.slots).some((id) => id !== undefined);
    if (g.slots > data.ids.length || trailingLive || g.dimension !== dim) {
      throw corrupt(
        path,
        graphAt,
        `graph has ${g.slots} slots of dimension ${g.dimension}, the segment ${data.ids.length} of ${dim}`,
      );
    }
    if (g.missing.length > 0) {
      throw corrupt(
        path,
        graphAt,
        `${g.missing.length} live points are not in the graph (slots ${preview(g.missing)})`,
      );
    }
    if (g.vectorMismatch.length > 0) {
      throw corrupt(
        path,
        graphAt,
        `graph vectors differ from the segment's for ${g.vectorMismatch.length} slots (${preview(g.vectorMismatch)})`,
      );
    }
    if (g.unreachable.length > 0) {
      problems.push({
        severity: 'warning',
        file: path,
        offset: graphAt,
        what: `${g.unreachable.length} live points are unreachable from the graph's entry point (slots ${preview(g.unreachable)})`,
        action: ACTIONS.compact,
      });
    }
  }
  return live;
}

/** Checks the database directory `dir` itself (no snapshot). */
async function verifyDirectory(
  fs: FileSystem,
  dir: string,
  progress: ProgressFn,
  only: ReadonlySet<string> | undefined,
): Promise<Omit<VerifyReport, 'duration_seconds' | 'online'>> {
  const problems: VerifyProblem[] = [];
  let vectors = 0;
  let segments = 0;
  let records = 0;
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(fs, dir);
  } catch (e) {
    problems.push(fromError(e, `${dir}/${MANIFEST_FILE}`, ACTIONS.restore));
  }
  const referenced = new Set<string>();
  const known = new Set<string>();
  const selected = (name: string): boolean => only === undefined || only.has(name);
  if (manifest !== undefined) {
    const total = manifest.collections
      .filter((c) => selected(typeof c.config['name'] === 'string' ? c.config['name'] : ''))
      .reduce((n, c) => n + c.segments.length, 0);
    const names = new Set<string>();
    const ids = new Set<number>();
    for (const c of manifest.collections) {
      const name = typeof c.config['name'] === 'string' ? c.config['name'] : '';
      const dimension = Number(c.config['dimension']);
      if (names.has(name)) {
        problems.push({
          severity: 'error',
          file: `${dir}/${MANIFEST_FILE}`,
          offset: 16,
          what: `collection "${name}" is listed twice in the manifest`,
          action: ACTIONS.restore,
        });
      }
      names.add(name);
      known.add(name);
      const target = stagingTarget(name);
      if (target !== undefined) {
        problems.push({
          severity: 'warning',
          file: `${dir}/${MANIFEST_FILE}`,
          offset: undefined,
          what: `collection "${name}" is the hidden staging collection of a snapshot restore into "${target}" (running, or interrupted before its swap: then "${target}" kept its content and the next open removes it)`,
          action: ACTIONS.none,
        });
      }
      const seen = new Map<PointId, string>();
      for (const s of c.segments) {
        referenced.add(s.file);
        if (s.tombstones !== null) referenced.add(s.tombstones);
        if (!selected(name)) continue;
        const path = `${dir}/${SEGMENT_DIR}/${s.file}`;
        if (ids.has(s.id) || s.id >= manifest.nextSegmentId) {
          problems.push({
            severity: 'error',
            file: `${dir}/${MANIFEST_FILE}`,
            offset: 16,
            what: `segment id ${s.id} is duplicated or not below nextSegmentId ${manifest.nextSegmentId}`,
            action: ACTIONS.restore,
          });
        }
        ids.add(s.id);
        if (!(await fs.exists(path))) {
          problems.push({
            severity: 'error',
            file: path,
            offset: undefined,
            what: `segment ${s.id} of collection "${name}" is listed in the manifest but missing`,
            action: ACTIONS.restore,
          });
          continue;
        }
        if (s.tombstones !== null && !(await fs.exists(`${dir}/${SEGMENT_DIR}/${s.tombstones}`))) {
          problems.push({
            severity: 'error',
            file: `${dir}/${SEGMENT_DIR}/${s.tombstones}`,
            offset: undefined,
            what: `tombstone file of segment ${s.id} is listed in the manifest but missing (deleted points would come back)`,
            action: ACTIONS.restore,
          });
          continue;
        }
        try {
          vectors += await checkSegment(fs, dir, { name, dimension }, s, seen, problems);
          segments++;
        } catch (e) {
          problems.push(fromError(e, path, ACTIONS.repairSegment));
        }
        progress({ phase: 'segments', done: segments, total, unit: 'files' });
      }
    }
    for (const name of await fs.list(`${dir}/${SEGMENT_DIR}`)) {
      if (!referenced.has(name)) {
        problems.push({
          severity: 'warning',
          file: `${dir}/${SEGMENT_DIR}/${name}`,
          offset: undefined,
          what: 'file is not referenced by the manifest (left by an interrupted seal or compaction)',
          action: ACTIONS.none,
        });
      }
    }
  }
  let lsn = manifest?.checkpointLsn ?? 0;
  const walDir = `${dir}/${WAL_DIR}`;
  try {
    const mark = await readCleanMark(fs, dir);
    const scan = await scanWal(fs, walDir, {
      cleanlyClosed: mark !== undefined,
      fromLsn: manifest?.walStartLsn ?? 1,
      onRecord: (r, file, offset) => {
        const op = decodeWalOp(r.type, r.body, file, offset);
        if (op.kind === 'create-collection' && typeof op.config['name'] === 'string')
          known.add(op.config['name']);
        records++;
        if (records % 1024 === 0)
          progress({ phase: 'wal', done: records, total: 0, unit: 'records' });
      },
    });
    lsn = Math.max(lsn, scan.lastLsn);
    const gaps = describeWalGaps(
      scan,
      manifest ?? { walStartLsn: 1, checkpointLsn: 0 },
      mark,
      walDir,
    ).filter((g) => manifest !== undefined || g.kind === 'clean-mark-mismatch');
    for (const g of gaps) {
      problems.push({
        severity: 'error',
        file: g.file,
        offset: g.offset,
        what: g.what,
        action: ACTIONS.restore,
      });
    }
    if (scan.tornTail !== undefined) {
      problems.push({
        severity: 'warning',
        file: scan.tornTail.file,
        offset: scan.tornTail.offset,
        what: `torn WAL tail of ${scan.tornTail.droppedBytes} bytes (a crash mid-append)`,
        action: ACTIONS.none,
      });
    }
  } catch (e) {
    problems.push(fromError(e, walDir, ACTIONS.walRecover));
  }
  // Without a readable manifest the names cannot be known: the damage is the report.
  for (const name of manifest === undefined ? [] : (only ?? [])) {
    if (!known.has(name))
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Collection "${name}" does not exist in this database: list them with "quiver collections DIR".`,
        { collection: name },
      );
  }
  const errors = problems.filter((p) => p.severity === 'error').length;
  return {
    status: errors === 0 ? 'ok' : 'problems',
    checked_vectors: vectors,
    checked_segments: segments,
    checked_wal_records: records,
    errors,
    warnings: problems.length - errors,
    lsn,
    problems,
  };
}

/**
 * Checks the database in `dir`. Never throws for damage: damage is a problem in the
 * report (status `problems`, exit code 1 in the CLI). Safe while a writer runs.
 */
export async function verifyDatabase(
  dir: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  const progress = options.progress ?? NO_PROGRESS;
  const only = options.collections === undefined ? undefined : new Set(options.collections);
  const online =
    options.online === 'auto' || options.online === undefined
      ? await fs.exists(`${dir}/${LOCK_FILE}`)
      : options.online;
  if (!online) {
    await removeDeadPins(dir, fs);
    const r = await verifyDirectory(fs, dir, progress, only);
    return { ...r, online: false, duration_seconds: (performance.now() - t0) / 1000 };
  }
  let snap;
  try {
    snap = await pinSnapshot(dir, { fileSystem: fs });
  } catch (e) {
    // The manifest itself (or the WAL it needs) is damaged: check the directory as it is.
    const r = await verifyDirectory(fs, dir, progress, only);
    const extra = r.errors === 0 ? [fromError(e, `${dir}/${MANIFEST_FILE}`, ACTIONS.restore)] : [];
    return {
      ...r,
      status: r.errors + extra.length === 0 ? 'ok' : 'problems',
      errors: r.errors + extra.length,
      problems: [...r.problems, ...extra],
      online: true,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  }
  try {
    const r = await verifyDirectory(fs, snap.dir, progress, only);
    // Name the database's own files, not the pinned links.
    const rename = (p: string): string =>
      p.startsWith(snap.dir) ? `${dir}${p.slice(snap.dir.length)}` : p;
    const problems = r.problems.map((p) => ({ ...p, file: rename(p.file) }));
    if (snap.walStop !== undefined && !snap.walStopAtTail) {
      problems.push({
        severity: 'error',
        file: rename(snap.walStop.file).replace(`/wal-src/`, `/${WAL_DIR}/`),
        offset: snap.walStop.offset,
        what: `WAL ${snap.walStop.reason} before the last log file (not a torn tail)`,
        action: ACTIONS.walRecover,
      });
    }
    const errors = problems.filter((p) => p.severity === 'error').length;
    return {
      ...r,
      status: errors === 0 ? 'ok' : 'problems',
      errors,
      warnings: problems.length - errors,
      problems,
      online: true,
      lsn: snap.lsn,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await snap.release();
  }
}
