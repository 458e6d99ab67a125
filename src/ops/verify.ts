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
import { QuiverError } from '../common/quiver-error.js';
import type { PointId } from '../common/types.js';
import type { CleanMark } from '../storage/clean-mark.js';
import { readCleanMark } from '../storage/clean-mark.js';
import { LOCK_FILE, MANIFEST_FILE, SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import { readManifest } from '../storage/manifest/manifest.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import { stagingTarget } from '../engine/staging-name.js';
import type { WalScanReport } from '../storage/wal/wal-reader.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';
import { pinSnapshot, removeDeadPins } from './snapshot.js';
import type { VerifyProblem } from './verify-problem.js';
import { ACTIONS, fromError } from './verify-problem.js';
import type { ManifestSegmentEntry } from './verify-segment.js';
import { checkSegment } from './verify-segment.js';

export type { VerifyProblem } from './verify-problem.js';
export { ACTIONS } from './verify-problem.js';
import { describeWalGaps } from './wal-tools.js';

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

/** One check of a database directory under way: its problems and counts so far. */
interface DirectoryCheck {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly progress: ProgressFn;
  readonly only: ReadonlySet<string> | undefined;
  readonly problems: VerifyProblem[];
  /** Collection names in the manifest or created in the WAL. */
  readonly known: Set<string>;
  vectors: number;
  segments: number;
  records: number;
}

/** Checks the database directory `dir` itself (no snapshot). */
async function verifyDirectory(
  fs: FileSystem,
  dir: string,
  progress: ProgressFn,
  only: ReadonlySet<string> | undefined,
): Promise<Omit<VerifyReport, 'duration_seconds' | 'online'>> {
  const c: DirectoryCheck = {
    fs,
    dir,
    progress,
    only,
    problems: [],
    known: new Set(),
    vectors: 0,
    segments: 0,
    records: 0,
  };
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(fs, dir);
  } catch (e) {
    c.problems.push(fromError(e, `${dir}/${MANIFEST_FILE}`, ACTIONS.restore));
  }
  if (manifest !== undefined) await checkManifest(c, manifest);
  const lsn = await checkWal(c, manifest);
  // Without a readable manifest the names cannot be known: the damage is the report.
  for (const name of manifest === undefined ? [] : (only ?? [])) {
    if (!c.known.has(name))
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Collection "${name}" does not exist in this database: list them with "quiver collections DIR".`,
        { collection: name },
      );
  }
  const errors = c.problems.filter((p) => p.severity === 'error').length;
  return {
    status: errors === 0 ? 'ok' : 'problems',
    checked_vectors: c.vectors,
    checked_segments: c.segments,
    checked_wal_records: c.records,
    errors,
    warnings: c.problems.length - errors,
    lsn,
    problems: c.problems,
  };
}

function collectionName(config: Manifest['collections'][number]['config']): string {
  return typeof config['name'] === 'string' ? config['name'] : '';
}

function selected(c: DirectoryCheck, name: string): boolean {
  return c.only === undefined || c.only.has(name);
}

/** Every collection entry and segment the manifest lists, then the files it does not. */
async function checkManifest(c: DirectoryCheck, manifest: Manifest): Promise<void> {
  const total = manifest.collections
    .filter((col) => selected(c, collectionName(col.config)))
    .reduce((n, col) => n + col.segments.length, 0);
  const referenced = new Set<string>();
  const names = new Set<string>();
  const ids = new Set<number>();
  for (const col of manifest.collections) {
    const name = collectionName(col.config);
    checkCollectionEntry(c, name, names);
    const seen = new Map<PointId, string>();
    const dimension = Number(col.config['dimension']);
    for (const s of col.segments) {
      referenced.add(s.file);
      if (s.tombstones !== null) referenced.add(s.tombstones);
      if (!selected(c, name)) continue;
      checkSegmentId(c, manifest, s, ids);
      if (!(await segmentFilesPresent(c, name, s))) continue;
      try {
        c.vectors += await checkSegment(c.fs, c.dir, { name, dimension }, s, seen, c.problems);
        c.segments++;
      } catch (e) {
        c.problems.push(fromError(e, `${c.dir}/${SEGMENT_DIR}/${s.file}`, ACTIONS.repairSegment));
      }
      c.progress({ phase: 'segments', done: c.segments, total, unit: 'files' });
    }
  }
  await reportUnreferenced(c, referenced);
}

/** A name listed once; a staging collection's name is worth a warning. */
function checkCollectionEntry(c: DirectoryCheck, name: string, names: Set<string>): void {
  if (names.has(name)) {
    c.problems.push({
      severity: 'error',
      file: `${c.dir}/${MANIFEST_FILE}`,
      offset: 16,
      what: `collection "${name}" is listed twice in the manifest`,
      action: ACTIONS.restore,
    });
  }
  names.add(name);
  c.known.add(name);
  const target = stagingTarget(name);
  if (target !== undefined) {
    c.problems.push({
      severity: 'warning',
      file: `${c.dir}/${MANIFEST_FILE}`,
      offset: undefined,
      what: `collection "${name}" is the hidden staging collection of a snapshot restore into "${target}" (running, or interrupted before its swap: then "${target}" kept its content and the next open removes it)`,
      action: ACTIONS.none,
    });
  }
}

function checkSegmentId(
  c: DirectoryCheck,
  manifest: Manifest,
  s: ManifestSegmentEntry,
  ids: Set<number>,
): void {
  if (ids.has(s.id) || s.id >= manifest.nextSegmentId) {
    c.problems.push({
      severity: 'error',
      file: `${c.dir}/${MANIFEST_FILE}`,
      offset: 16,
      what: `segment id ${s.id} is duplicated or not below nextSegmentId ${manifest.nextSegmentId}`,
      action: ACTIONS.restore,
    });
  }
  ids.add(s.id);
}

/** False (a problem reported) when the segment file or its tombstone file is missing. */
async function segmentFilesPresent(
  c: DirectoryCheck,
  name: string,
  s: ManifestSegmentEntry,
): Promise<boolean> {
  const path = `${c.dir}/${SEGMENT_DIR}/${s.file}`;
  if (!(await c.fs.exists(path))) {
    c.problems.push({
      severity: 'error',
      file: path,
      offset: undefined,
      what: `segment ${s.id} of collection "${name}" is listed in the manifest but missing`,
      action: ACTIONS.restore,
    });
    return false;
  }
  if (s.tombstones !== null && !(await c.fs.exists(`${c.dir}/${SEGMENT_DIR}/${s.tombstones}`))) {
    c.problems.push({
      severity: 'error',
      file: `${c.dir}/${SEGMENT_DIR}/${s.tombstones}`,
      offset: undefined,
      what: `tombstone file of segment ${s.id} is listed in the manifest but missing (deleted points would come back)`,
      action: ACTIONS.restore,
    });
    return false;
  }
  return true;
}

async function reportUnreferenced(
  c: DirectoryCheck,
  referenced: ReadonlySet<string>,
): Promise<void> {
  for (const name of await c.fs.list(`${c.dir}/${SEGMENT_DIR}`)) {
    if (!referenced.has(name)) {
      c.problems.push({
        severity: 'warning',
        file: `${c.dir}/${SEGMENT_DIR}/${name}`,
        offset: undefined,
        what: 'file is not referenced by the manifest (left by an interrupted seal or compaction)',
        action: ACTIONS.none,
      });
    }
  }
}

/** Scans the WAL (counting records, noting created collections); returns the LSN it reaches. */
async function checkWal(c: DirectoryCheck, manifest: Manifest | undefined): Promise<number> {
  let lsn = manifest?.checkpointLsn ?? 0;
  const walDir = `${c.dir}/${WAL_DIR}`;
  try {
    const mark = await readCleanMark(c.fs, c.dir);
    const scan = await scanWal(c.fs, walDir, {
      cleanlyClosed: mark !== undefined,
      fromLsn: manifest?.walStartLsn ?? 1,
      onRecord: (r, file, offset) => {
        const op = decodeWalOp(r.type, r.body, file, offset);
        if (op.kind === 'create-collection' && typeof op.config['name'] === 'string')
          c.known.add(op.config['name']);
        c.records++;
        if (c.records % 1024 === 0)
          c.progress({ phase: 'wal', done: c.records, total: 0, unit: 'records' });
      },
    });
    lsn = Math.max(lsn, scan.lastLsn);
    reportWalDamage(c, scan, manifest, mark, walDir);
  } catch (e) {
    c.problems.push(fromError(e, walDir, ACTIONS.walRecover));
  }
  return lsn;
}

function reportWalDamage(
  c: DirectoryCheck,
  scan: WalScanReport,
  manifest: Manifest | undefined,
  mark: CleanMark | undefined,
  walDir: string,
): void {
  const gaps = describeWalGaps(scan, manifest, mark, walDir);
  for (const g of gaps) {
    c.problems.push({
      severity: 'error',
      file: g.file,
      offset: g.offset,
      what: g.what,
      action: ACTIONS.restore,
    });
  }
  if (scan.tornTail !== undefined) {
    c.problems.push({
      severity: 'warning',
      file: scan.tornTail.file,
      offset: scan.tornTail.offset,
      what: `torn WAL tail of ${scan.tornTail.droppedBytes} bytes (a crash mid-append)`,
      action: ACTIONS.none,
    });
  }
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
