/**
 * Pinned snapshot: a consistent, read-only view of a database directory at one LSN, taken
 * without the writer's lock while another process writes, seals and compacts it. Used by
 * backup, verify, export and stats.
 *
 * How (docs/RUNBOOK.md "Online backups"): read MANIFEST's bytes; hard-link every segment
 * and tombstone file it names, and every WAL file, into `DIR/.pins/<pid>-<n>/` (a link
 * keeps the file alive after the writer unlinks its name, and the writer never looks in
 * `.pins/`); read MANIFEST again — if it changed, or a file vanished before it was linked,
 * start over. Then scan the linked WAL from the manifest's `walStartLsn`, stop at the first
 * incomplete record (an append in flight), and copy each WAL file only up to the end of
 * its last complete record. The view is the manifest plus the WAL up to that LSN — exactly
 * what recovery would rebuild — and nothing in it changes while it is read.
 */
import { corrupt, isQuiverError, QuiverError } from '../common/quiver-error.js';
import {
  MANIFEST_FILE,
  parseWalFileName,
  SEGMENT_DIR,
  WAL_DIR,
  WAL_HEADER_SIZE,
} from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { processAlive } from '../storage/lock-file.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import { decodeManifest, EMPTY_MANIFEST, manifestFiles } from '../storage/manifest/manifest.js';
import type { TornTail, WalScanReport } from '../storage/wal/wal-reader.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import { walGaps } from '../storage/wal/wal-continuity.js';

/** Directory under the database directory that holds pinned snapshots. */
export const PIN_DIR = '.pins';

/** One WAL file of a snapshot, cut at the end of its last complete record. */
export interface SnapshotWalFile {
  readonly seq: number;
  readonly name: string;
  /** Bytes in the snapshot copy. */
  readonly bytes: number;
}

/** A pinned, consistent view of a database. Call `release()` when done. */
export interface PinnedSnapshot {
  /** The database directory the snapshot was taken from. */
  readonly source: string;
  /** A database-shaped directory: MANIFEST (if any), segments/ (links), wal/ (copies). */
  readonly dir: string;
  readonly manifest: Manifest;
  /** MANIFEST's exact bytes, or undefined for a database that has none yet. */
  readonly manifestBytes: Uint8Array | undefined;
  /** Segment and tombstone file names the manifest references. */
  readonly segmentFiles: readonly string[];
  readonly walFiles: readonly SnapshotWalFile[];
  /** The view holds every record up to this LSN (and nothing after it). */
  readonly lsn: number;
  /** When the view was taken (every record up to `lsn` was written before it). */
  readonly takenAtMs: number;
  /** The damage the WAL scan stopped at: an append in flight, a torn tail, or corruption. */
  readonly walStop: TornTail | undefined;
  /** True when `walStop` is in the last WAL file (normal for a running writer or a crash). */
  readonly walStopAtTail: boolean;
  /** How many times the pinning started over because the writer switched manifests. */
  readonly retries: number;
  /** Removes the pin directory (the pinned files go when their last name does). */
  release(): Promise<void>;
}

export interface SnapshotOptions {
  readonly fileSystem?: FileSystem;
  /** Start over at most this many times. Default 50. */
  readonly maxRetries?: number;
}

let counter = 0;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function readIfExists(fs: FileSystem, path: string): Promise<Uint8Array | undefined> {
  try {
    return await fs.readFile(path);
  } catch (e) {
    if (!(await fs.exists(path))) return undefined;
    throw e;
  }
}

/** Removes pin directories left by snapshot processes that died. */
async function removeStalePins(fs: FileSystem, root: string): Promise<void> {
  if (!(await fs.exists(root))) return;
  for (const name of await fs.list(root)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) {
      await fs.removeDir(`${root}/${name}`).catch(() => undefined);
    }
  }
}

/**
 * Removes the pin directories of dead tools under database `dir` (RUNBOOK: "removed by the
 * next tool"). For tools that read a stopped database without pinning (offline verify):
 * otherwise a killed tool's links would keep deleted files' space until the next backup.
 */
export async function removeDeadPins(dir: string, fs: FileSystem): Promise<void> {
  await removeStalePins(fs, `${dir}/${PIN_DIR}`);
}

/** Links `from` to `to`, or copies it where hard links are not supported. False if gone. */
async function pinFile(fs: FileSystem, from: string, to: string): Promise<boolean> {
  try {
    await fs.link(from, to);
    return true;
  } catch (e) {
    if (!(await fs.exists(from))) return false;
    const errno = isQuiverError(e) ? e.details.errno : undefined;
    if (errno === 'EPERM' || errno === 'EXDEV' || errno === 'ENOTSUP' || errno === 'EMLINK') {
      try {
        await fs.copyFile(from, to);
        return true;
      } catch {
        if (!(await fs.exists(from))) return false;
      }
    }
    throw e;
  }
}

/**
 * Takes a pinned snapshot of the database in `dir` without its lock. Throws CORRUPT when
 * the manifest is unreadable or the WAL it needs is missing; UNAVAILABLE when the writer
 * kept switching manifests faster than the files could be pinned.
 */
export async function pinSnapshot(
  dir: string,
  options: SnapshotOptions = {},
): Promise<PinnedSnapshot> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  if (!(await fs.exists(dir))) {
    throw new QuiverError('INVALID_ARGUMENT', `Database directory ${dir} does not exist.`, {
      file: dir,
    });
  }
  const root = `${dir}/${PIN_DIR}`;
  await fs.mkdirp(root);
  await removeStalePins(fs, root);
  const pin = `${root}/${process.pid}-${Date.now()}-${counter++}`;
  const maxRetries = options.maxRetries ?? 50;
  try {
    for (let attempt = 0; ; attempt++) {
      if (attempt > maxRetries) {
        throw new QuiverError(
          'UNAVAILABLE',
          `Could not pin a consistent view of ${dir}: the writer switched manifests ${attempt} times while files were pinned. Retry when compaction is quieter.`,
          { file: `${dir}/${MANIFEST_FILE}` },
        );
      }
      const pinned = await pinManifestFiles(fs, dir, pin);
      if (pinned === undefined) continue;

      // The manifest held still while everything was pinned: cut the WAL at a record boundary.
      const scan = await scanWal(fs, `${pin}/wal-src`, {
        cleanlyClosed: false,
        stopAtDamage: true,
        fromLsn: pinned.manifest.walStartLsn,
        onRecord: () => undefined,
      });
      const takenAtMs = Date.now();
      const missingStart = walGaps(scan, pinned.manifest, undefined, `${dir}/${WAL_DIR}`).find(
        (g) => g.kind === 'missing-start',
      );
      if (missingStart !== undefined) {
        if (attempt < maxRetries) continue;
        throw corrupt(missingStart.file, missingStart.offset, missingStart.what);
      }
      const walFiles = await copyCompleteRecords(fs, pin, scan);
      await fs.removeDir(`${pin}/wal-src`);
      if (pinned.before !== undefined) await writeNew(fs, `${pin}/${MANIFEST_FILE}`, pinned.before);
      return pinnedView(fs, dir, pin, { ...pinned, scan, walFiles, takenAtMs, retries: attempt });
    }
  } catch (e) {
    await fs.removeDir(pin).catch(() => undefined);
    throw e;
  }
}

/** What one attempt pinned while the manifest held still. */
interface PinnedFiles {
  /** MANIFEST's bytes, read before and after the files were pinned. */
  readonly before: Uint8Array | undefined;
  readonly manifest: Manifest;
  readonly segmentFiles: readonly string[];
}

/**
 * Links the manifest's segment and tombstone files, and every WAL file, into the (fresh)
 * pin directory. Undefined when a file vanished first or the manifest changed meanwhile.
 */
async function pinManifestFiles(
  fs: FileSystem,
  dir: string,
  pin: string,
): Promise<PinnedFiles | undefined> {
  await fs.removeDir(pin);
  await fs.mkdirp(`${pin}/${SEGMENT_DIR}`);
  await fs.mkdirp(`${pin}/wal-src`);
  await fs.mkdirp(`${pin}/${WAL_DIR}`);
  const manifestPath = `${dir}/${MANIFEST_FILE}`;
  const before = await readIfExists(fs, manifestPath);
  const manifest = before === undefined ? EMPTY_MANIFEST : decodeManifest(before, manifestPath);
  const segmentFiles = manifestFiles(manifest);
  for (const name of segmentFiles) {
    const ok = await pinFile(fs, `${dir}/${SEGMENT_DIR}/${name}`, `${pin}/${SEGMENT_DIR}/${name}`);
    if (!ok) return undefined;
  }
  // Names only, no sizes: the writer deletes checkpointed log files at any moment, and
  // one gone between the listing and a stat failed the whole pin (an online verify then
  // checked the live directory and reported its churn as damage). A file gone before
  // its link is not pinned; the continuity check below retries if it was needed.
  for (const name of await fs.list(`${dir}/${WAL_DIR}`)) {
    if (parseWalFileName(name) === undefined) continue;
    await pinFile(fs, `${dir}/${WAL_DIR}/${name}`, `${pin}/wal-src/${name}`);
  }
  const after = await readIfExists(fs, manifestPath);
  if (!sameBytes(before, after)) return undefined;
  return { before, manifest, segmentFiles };
}

/** Copies each linked WAL file into the pin's wal/ up to the end of its last complete record. */
async function copyCompleteRecords(
  fs: FileSystem,
  pin: string,
  scan: WalScanReport,
): Promise<SnapshotWalFile[]> {
  const end = scan.end;
  const walFiles: SnapshotWalFile[] = [];
  for (const f of scan.files) {
    if (end === undefined || f.seq > end.seq) break;
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const bytes = await fs.readFile(f.path);
    const cut = f.seq === end.seq ? Math.min(end.offset, bytes.length) : bytes.length;
    if (cut < WAL_HEADER_SIZE) break;
    await writeNew(fs, `${pin}/${WAL_DIR}/${name}`, bytes.subarray(0, cut));
    walFiles.push({ seq: f.seq, name, bytes: cut });
  }
  return walFiles;
}

async function writeNew(fs: FileSystem, path: string, bytes: Uint8Array): Promise<void> {
  const h = await fs.open(path, 'create-new');
  try {
    await h.write(bytes, 0);
  } finally {
    await h.close();
  }
}

function pinnedView(
  fs: FileSystem,
  dir: string,
  pin: string,
  v: PinnedFiles & {
    scan: WalScanReport;
    walFiles: readonly SnapshotWalFile[];
    takenAtMs: number;
    retries: number;
  },
): PinnedSnapshot {
  const { scan, manifest } = v;
  const stop = scan.tornTail;
  const end = scan.end;
  const lastSeq = scan.files[scan.files.length - 1]?.seq;
  let released = false;
  return {
    source: dir,
    dir: pin,
    manifest,
    manifestBytes: v.before,
    segmentFiles: v.segmentFiles,
    walFiles: v.walFiles,
    lsn: Math.max(scan.lastLsn, manifest.checkpointLsn),
    takenAtMs: v.takenAtMs,
    walStop: stop,
    walStopAtTail: stop === undefined || (end !== undefined && end.seq === lastSeq),
    retries: v.retries,
    release: async () => {
      if (released) return;
      released = true;
      await fs.removeDir(pin);
    },
  };
}
