/**
 * wal status and wal recover: inspect the write-ahead log of a database directory (files,
 * LSN ranges, the replay start, damage) without the lock, and cut it at the first bad
 * record with the lock. A torn tail (FORMAT.md §2.4) is cut without asking, as an open
 * would; damage before the tail is cut only with `skipCorrupted`, listing what is dropped.
 */
import { corrupt, QuiverError } from '../common/quiver-error.js';
import { SILENT_LOGGER } from '../common/logger.js';
import { readCleanMark, removeCleanMark } from '../storage/clean-mark.js';
import { WAL_DIR, WAL_HEADER_SIZE } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { DirectoryLock } from '../storage/lock-file.js';
import { readManifest } from '../storage/manifest/manifest.js';
import type { TornTail } from '../storage/wal/wal-reader.js';
import { listWalFiles, scanWal } from '../storage/wal/wal-reader.js';
import { decodeWalRecord } from '../storage/wal/wal-record.js';

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
    if (damage === undefined) {
      return {
        path: dir,
        action: 'nothing-to-do',
        damage,
        dropped: none,
        message: 'The WAL is intact.',
      };
    }
    // What lies after the damage: the rest of that file and every later file.
    const files = await listWalFiles(fs, `${dir}/${WAL_DIR}`);
    const at = files.findIndex((f) => f.path === damage.file);
    const later = at < 0 ? [] : files.slice(at + 1);
    let records = 0;
    let lo: number | undefined;
    let hi: number | undefined;
    const count = (bytes: Uint8Array, from: number): void => {
      for (let p = from; p + 17 <= bytes.length;) {
        const r = decodeWalRecord(bytes, p);
        if (r.kind !== 'record') {
          p++;
          continue;
        }
        records++;
        lo = Math.min(lo ?? r.record.lsn, r.record.lsn);
        hi = Math.max(hi ?? r.record.lsn, r.record.lsn);
        p = r.next;
      }
    };
    count(await fs.readFile(damage.file), damage.offset + 1);
    let bytes = damage.droppedBytes;
    for (const f of later) {
      count(await fs.readFile(f.path), WAL_HEADER_SIZE);
      bytes += f.size;
    }
    const dropped = {
      bytes,
      records,
      lsnRange: lo === undefined || hi === undefined ? undefined : ([lo, hi] as const),
      files: later.map((f) => f.path),
    };
    const cutLsn = status.files.reduce((n, f) => Math.max(n, f.lastLsn ?? 0), 0);
    if (cutLsn < status.checkpointLsn && status.walStartLsn <= status.checkpointLsn) {
      return {
        path: dir,
        action: 'refused',
        damage,
        dropped,
        message: `Cutting at ${damage.file} offset ${damage.offset} would end the log at LSN ${cutLsn}, before the manifest's checkpoint ${status.checkpointLsn}: the database could not open. Restore from a backup, or salvage with "quiver repair".`,
      };
    }
    if (damage.kind !== 'torn-tail' && options.skipCorrupted !== true) {
      return {
        path: dir,
        action: 'refused',
        damage,
        dropped,
        message: `The WAL is corrupt at ${damage.file} offset ${damage.offset} (${damage.reason}), not a torn tail; cutting there drops ${records} intact records after it. Re-run with --skip-corrupted to cut anyway, or restore from a backup.`,
      };
    }
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
    if (status.cleanlyClosed) await removeCleanMark(fs, dir);
    return {
      path: dir,
      action: damage.kind === 'torn-tail' ? 'cut-torn-tail' : 'cut-corruption',
      damage,
      dropped,
      message: `Cut ${damage.file} at offset ${damage.offset}: dropped ${bytes} bytes (${records} intact records${dropped.lsnRange === undefined ? '' : `, LSN ${dropped.lsnRange[0]}..${dropped.lsnRange[1]}`}) and ${later.length} later files.`,
    };
  } catch (e) {
    if (e instanceof QuiverError) throw e;
    throw corrupt(`${dir}/${WAL_DIR}`, 0, 'WAL recovery failed', e);
  } finally {
    await lock.release();
  }
}
