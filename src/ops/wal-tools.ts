/**
 * wal status and wal recover: inspect the write-ahead log of a database directory (files,
 * LSN ranges, the replay start, damage) without the lock, and cut it at the first bad
 * record with the lock. A torn tail (FORMAT.md §2.4) is cut without asking, as an open
 * would; damage before the tail is cut only with `skipCorrupted`, listing what is dropped.
 * Both check first that the log covers what the manifest and the clean mark say it holds
 * (storage/wal/wal-continuity.ts): deleted log files are data lost, never "intact".
 */
import { corrupt, QuiverError } from '../common/quiver-error.js';
import { SILENT_LOGGER } from '../common/logger.js';
import type { CleanMark } from '../storage/clean-mark.js';
import { readCleanMark, removeCleanMark } from '../storage/clean-mark.js';
import { WAL_DIR, WAL_HEADER_SIZE, walFileName } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { DirectoryLock } from '../storage/lock-file.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import { readManifest } from '../storage/manifest/manifest.js';
import type { WalGap } from '../storage/wal/wal-continuity.js';
import { walGaps } from '../storage/wal/wal-continuity.js';
import type { TornTail, WalFileInfo, WalScanReport } from '../storage/wal/wal-reader.js';
import { listWalFiles, scanWal } from '../storage/wal/wal-reader.js';
import { decodeWalRecord } from '../storage/wal/wal-record.js';

/** Log data the manifest or the clean mark needs but the WAL directory no longer holds. */
export interface WalMissing {
  readonly kind: WalGap['kind'];
  /** Where the log stops short: the file and offset the continuity check names. */
  readonly file: string;
  readonly offset: number;
  /** The missing LSNs, first and last (last unknown when the clean mark cannot say). */
  readonly lsnRange: readonly [number, number] | undefined;
  /** Which files: names when known, else where they would be. */
  readonly files: string;
  /** One sentence for people: the gap, the range and the files. */
  readonly what: string;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The files a gap at the end of the log lost: after the last one present, up to the mark's. */
function missingTail(scan: WalScanReport, mark: CleanMark | undefined, walDir: string): string {
  const last = scan.files[scan.files.length - 1];
  if (last === undefined) {
    return mark === undefined
      ? `every WAL file of ${walDir}`
      : `every WAL file of ${walDir} up to ${walFileName(mark.walSeq)}`;
  }
  if (mark !== undefined && mark.walSeq > last.seq) {
    const from = walFileName(last.seq + 1);
    const to = walFileName(mark.walSeq);
    return from === to ? from : `${from} to ${to}`;
  }
  if (mark !== undefined && mark.walSeq === last.seq && scan.end !== undefined)
    return `the end of ${baseName(last.path)} (it ends at offset ${scan.end.offset}, the clean mark says ${mark.walOffset})`;
  return `the WAL files after ${baseName(last.path)}`;
}

/**
 * The continuity gaps of `scan` (one shared check, the one recovery fails the open on),
 * each with the LSN range and the files that are missing. Without a manifest (missing or
 * unreadable) nothing says where the log must start or end, so only the clean mark counts.
 */
export function describeWalGaps(
  scan: WalScanReport,
  manifest: Pick<Manifest, 'walStartLsn' | 'checkpointLsn'> | undefined,
  mark: CleanMark | undefined,
  walDir: string,
): WalMissing[] {
  if (manifest === undefined) {
    const none = { walStartLsn: 1, checkpointLsn: 0 };
    return describeWalGaps(scan, none, mark, walDir).filter(
      (g) => g.kind === 'clean-mark-mismatch',
    );
  }
  // A scan that stopped at damage (stopAtDamage) ends there: the records after it are in
  // the files, unreadable, not missing. The damage is reported on its own (wal recover cuts
  // it, repair lists it); calling the end "missing" would refuse the --skip-corrupted cut
  // of every cleanly closed database and name the wrong file.
  const stopped = scan.tornTail !== undefined;
  const gaps = walGaps(scan, manifest, mark, walDir).filter(
    (g) => !stopped || g.kind === 'missing-start',
  );
  return gaps.map((g) => {
    let lsnRange: readonly [number, number] | undefined;
    let files: string;
    if (g.kind === 'missing-start') {
      lsnRange = [manifest.walStartLsn, (scan.firstLsn ?? manifest.walStartLsn) - 1];
      files = `the WAL files before ${baseName(scan.files[0]?.path ?? walDir)}`;
    } else {
      const have = Math.max(scan.lastLsn, g.kind === 'missing-end' ? 0 : manifest.checkpointLsn);
      const need = g.kind === 'missing-end' ? manifest.checkpointLsn : (mark?.lastLsn ?? have);
      lsnRange = need > have ? [have + 1, need] : undefined;
      files = missingTail(scan, mark, walDir);
    }
    const range = lsnRange === undefined ? '' : `LSN ${lsnRange[0]}..${lsnRange[1]} `;
    return {
      kind: g.kind,
      file: g.file,
      offset: g.offset,
      lsnRange,
      files,
      what: `${range}missing from the WAL (${files}): ${g.what}`,
    };
  });
}

export interface WalFileStatus {
  readonly file: string;
  readonly bytes: number;
  readonly records: number;
  readonly firstLsn: number | undefined;
  readonly lastLsn: number | undefined;
}

export interface WalStatusReport {
  readonly path: string;
  readonly files: readonly WalFileStatus[];
  readonly totalBytes: number;
  readonly records: number;
  readonly firstLsn: number | undefined;
  readonly lastLsn: number;
  readonly walStartLsn: number;
  readonly checkpointLsn: number;
  /** Records the next open replays (from walStartLsn). */
  readonly pendingRecords: number;
  readonly cleanlyClosed: boolean;
  /** Log data that is gone (deleted files, a cut log): the database cannot open as it is. */
  readonly missing: readonly WalMissing[];
  /** The first bad record, if any, and whether it is a torn tail or corruption. */
  readonly damage: (TornTail & { readonly kind: 'torn-tail' | 'corruption' }) | undefined;
}

/** Reports the WAL of `dir` (read-only; a writer may be running). */
export async function walStatus(
  dir: string,
  options: { fileSystem?: FileSystem } = {},
): Promise<WalStatusReport> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  const manifest = await readManifest(fs, dir);
  const mark = await readCleanMark(fs, dir);
  const per = new Map<string, { records: number; first?: number; last?: number }>();
  let pending = 0;
  const scan = await scanWal(fs, `${dir}/${WAL_DIR}`, {
    cleanlyClosed: mark !== undefined,
    stopAtDamage: true,
    onRecord: (r, file) => {
      const f = per.get(file) ?? { records: 0 };
      f.records++;
      f.first ??= r.lsn;
      f.last = r.lsn;
      per.set(file, f);
      if (r.lsn >= manifest.walStartLsn) pending++;
    },
  });
  const tail = scan.tornTail;
  const missing = describeWalGaps(scan, manifest, mark, `${dir}/${WAL_DIR}`);
  // The scan classified the damage as an open would (torn tail or corruption).
  const isTorn = tail?.kind === 'torn-tail';
  return {
    path: dir,
    files: scan.files.map((f) => ({
      file: f.path,
      bytes: f.size,
      records: per.get(f.path)?.records ?? 0,
      firstLsn: per.get(f.path)?.first,
      lastLsn: per.get(f.path)?.last,
    })),
    totalBytes: scan.files.reduce((n, f) => n + f.size, 0),
    records: [...per.values()].reduce((n, f) => n + f.records, 0),
    firstLsn: scan.firstLsn,
    lastLsn: Math.max(scan.lastLsn, manifest.checkpointLsn),
    walStartLsn: manifest.walStartLsn,
    checkpointLsn: manifest.checkpointLsn,
    pendingRecords: pending,
    cleanlyClosed: mark !== undefined,
    missing,
    damage: tail === undefined ? undefined : { ...tail, kind: isTorn ? 'torn-tail' : 'corruption' },
  };
}

export interface WalRecoverReport {
  readonly path: string;
  readonly action: 'nothing-to-do' | 'cut-torn-tail' | 'cut-corruption' | 'refused';
  readonly damage: WalStatusReport['damage'];
  /** What the cut drops: bytes, intact records after the damage, later files. */
  readonly dropped: {
    readonly bytes: number;
    readonly records: number;
    readonly lsnRange: readonly [number, number] | undefined;
    readonly files: readonly string[];
  };
  readonly message: string;
}

/**
 * Cuts the WAL of `dir` at its first bad record. Takes the directory lock (the database
 * must not be open). Refuses (action `refused`) damage that is not a torn tail unless
 * `skipCorrupted`; refuses always when the cut would lose records the manifest needs.
 */
export async function walRecover(
  dir: string,
  options: { fileSystem?: FileSystem; skipCorrupted?: boolean } = {},
): Promise<WalRecoverReport> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  const lock = await DirectoryLock.acquire(fs, dir, SILENT_LOGGER);
  try {
    const status = await walStatus(dir, { fileSystem: fs });
    const damage = status.damage;
    const none = { bytes: 0, records: 0, lsnRange: undefined, files: [] };
    if (status.missing.length > 0) {
      // Nothing to cut: what is gone cannot be brought back from the log.
      return {
        path: dir,
        action: 'refused',
        damage,
        dropped: none,
        message: `The WAL is not intact: ${status.missing.map((m) => m.what).join('; ')}. Cutting cannot bring it back: restore from a backup ("quiver backup restore"), or salvage the rest with "quiver repair DIR -o NEW".`,
      };
    }
    if (damage === undefined) {
      return {
        path: dir,
        action: 'nothing-to-do',
        damage,
        dropped: none,
        message: 'The WAL is intact.',
      };
    }
    const { dropped, later } = await afterDamage(fs, dir, damage);
    const refusal = refuseCut(status, damage, dropped, options.skipCorrupted === true);
    if (refusal !== undefined)
      return { path: dir, action: 'refused', damage, dropped, message: refusal };
    await cutAt(fs, dir, damage, later);
    if (status.cleanlyClosed) await removeCleanMark(fs, dir);
    return {
      path: dir,
      action: damage.kind === 'torn-tail' ? 'cut-torn-tail' : 'cut-corruption',
      damage,
      dropped,
      message: `Cut ${damage.file} at offset ${damage.offset}: dropped ${dropped.bytes} bytes (${dropped.records} intact records${dropped.lsnRange === undefined ? '' : `, LSN ${dropped.lsnRange[0]}..${dropped.lsnRange[1]}`}) and ${later.length} later files.`,
    };
  } catch (e) {
    if (e instanceof QuiverError) throw e;
    throw corrupt(`${dir}/${WAL_DIR}`, 0, 'WAL recovery failed', e);
  } finally {
    await lock.release();
  }
}

type WalDamage = NonNullable<WalStatusReport['damage']>;

/** What lies after the damage: the rest of that file and every later file. */
async function afterDamage(
  fs: FileSystem,
  dir: string,
  damage: WalDamage,
): Promise<{ dropped: WalRecoverReport['dropped']; later: WalFileInfo[] }> {
  const files = await listWalFiles(fs, `${dir}/${WAL_DIR}`);
  const at = files.findIndex((f) => f.path === damage.file);
  const later = at < 0 ? [] : files.slice(at + 1);
  const count: RecordCount = { records: 0, lo: undefined, hi: undefined };
  countIntactRecords(await fs.readFile(damage.file), damage.offset + 1, count);
  let bytes = damage.droppedBytes;
  for (const f of later) {
    countIntactRecords(await fs.readFile(f.path), WAL_HEADER_SIZE, count);
    bytes += f.size;
  }
  const { records, lo, hi } = count;
  const dropped = {
    bytes,
    records,
    lsnRange: lo === undefined || hi === undefined ? undefined : ([lo, hi] as const),
    files: later.map((f) => f.path),
  };
  return { dropped, later };
}

/** Intact records after the damage, and their lowest and highest LSN. */
interface RecordCount {
  records: number;
  lo: number | undefined;
  hi: number | undefined;
}

/** Counts the intact records in `bytes` from `from` on, and their LSN range. */
function countIntactRecords(bytes: Uint8Array, from: number, count: RecordCount): void {
  for (let p = from; p + 17 <= bytes.length;) {
    const r = decodeWalRecord(bytes, p);
    if (r.kind !== 'record') {
      p++;
      continue;
    }
    count.records++;
    count.lo = Math.min(count.lo ?? r.record.lsn, r.record.lsn);
    count.hi = Math.max(count.hi ?? r.record.lsn, r.record.lsn);
    p = r.next;
  }
}

/** Why the cut is refused, or undefined when it may go ahead. */
function refuseCut(
  status: WalStatusReport,
  damage: WalDamage,
  dropped: WalRecoverReport['dropped'],
  skipCorrupted: boolean,
): string | undefined {
  const cutLsn = status.files.reduce((n, f) => Math.max(n, f.lastLsn ?? 0), 0);
  if (cutLsn < status.checkpointLsn && status.walStartLsn <= status.checkpointLsn) {
    return `Cutting at ${damage.file} offset ${damage.offset} would end the log at LSN ${cutLsn}, before the manifest's checkpoint ${status.checkpointLsn}: the database could not open. Restore from a backup, or salvage with "quiver repair".`;
  }
  if (damage.kind !== 'torn-tail' && !skipCorrupted) {
    return `The WAL is corrupt at ${damage.file} offset ${damage.offset} (${damage.reason}), not a torn tail; cutting there drops ${dropped.records} intact records after it. Re-run with --skip-corrupted to cut anyway, or restore from a backup.`;
  }
  return undefined;
}

/**
 * Truncates the damaged file at the damage (removed when not even its header is whole)
 * and removes the later files.
 */
async function cutAt(
  fs: FileSystem,
  dir: string,
  damage: WalDamage,
  later: readonly WalFileInfo[],
): Promise<void> {
  const h = await fs.open(damage.file, 'readwrite');
  try {
    await h.truncate(damage.offset < WAL_HEADER_SIZE ? 0 : damage.offset);
    await h.sync();
  } finally {
    await h.close();
  }
  if (damage.offset < WAL_HEADER_SIZE) await fs.unlink(damage.file);
  for (const f of later) await fs.unlink(f.path);
  await fs.syncDir(`${dir}/${WAL_DIR}`);
}
