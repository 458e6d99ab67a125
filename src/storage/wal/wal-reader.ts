/**
 * WalReader: scans the WAL files of a directory in order, hands every intact record to a
 * callback, and classifies damage: a torn tail (a crash mid-append in the last file, with
 * nothing valid after it) or corruption (anything else), which is a CORRUPT error naming
 * file and offset. The reader never modifies files; the writer truncates a torn tail.
 */
import { corrupt, QuiverError } from '../../common/quiver-error.js';
import type { FileSystem } from '../io/file-system.js';
import { FORMAT_MAJOR, WAL_HEADER_SIZE, parseWalFileName } from '../format.js';
import type { WalRecord } from './wal-record.js';
import { decodeWalHeader, decodeWalRecord } from './wal-record.js';

export interface WalFileInfo {
  readonly seq: number;
  readonly path: string;
  readonly size: number;
}

/** Where the damage at the end of the log was and how much was dropped. */
export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly droppedBytes: number;
  readonly reason: string;
  /**
   * `torn-tail` (a crash mid-append: an open cuts it) or `corruption` (only reported, with
   * `stopAtDamage`; otherwise the scan throws CORRUPT).
   */
  readonly kind: 'torn-tail' | 'corruption';
}

export interface WalScanReport {
  readonly files: readonly WalFileInfo[];
  readonly records: number;
  /** LSN of the last intact record, or `fromLsn - 1` when none. */
  readonly lastLsn: number;
  /** Where the next record goes: the last file and the end of its intact data. */
  readonly end: { readonly seq: number; readonly offset: number } | undefined;
  readonly tornTail: TornTail | undefined;
  /** LSN of the first record of each file that has one, by file sequence number. */
  readonly firstLsnBySeq: ReadonlyMap<number, number>;
  /** LSN of the first intact record in the log, if any. */
  readonly firstLsn: number | undefined;
}

export interface WalScanOptions {
  /**
   * True when the database was closed cleanly: then every byte was durable and any
   * damage, even at the very end, is corruption rather than a torn tail.
   */
  readonly cleanlyClosed: boolean;
  /** Records before this LSN are skipped (they are already in sealed segments). */
  readonly fromLsn?: number;
  /** Skips damage instead of failing: stops at the first bad record (wal recover). */
  readonly stopAtDamage?: boolean;
  readonly onRecord: (record: WalRecord, file: string, offset: number) => void;
}

/** Lists WAL files of `dir` in sequence order. */
export async function listWalFiles(fs: FileSystem, dir: string): Promise<WalFileInfo[]> {
  const out: WalFileInfo[] = [];
  for (const name of await fs.list(dir)) {
    const seq = parseWalFileName(name);
    if (seq === undefined) continue;
    const path = `${dir}/${name}`;
    out.push({ seq, path, size: await fs.fileSize(path) });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** What a scan has found so far; each file it reads adds to it. */
interface ScanState {
  lastLsn: number | undefined;
  records: number;
  end: { seq: number; offset: number } | undefined;
  tornTail: TornTail | undefined;
  readonly firstLsnBySeq: Map<number, number>;
  firstLsn: number | undefined;
}

/** One file being scanned: the context its steps share. */
interface FileScan {
  readonly file: WalFileInfo;
  readonly bytes: Uint8Array;
  readonly isLast: boolean;
  readonly fromLsn: number;
  readonly options: WalScanOptions;
  readonly state: ScanState;
}

/** Scans every WAL file of `dir`; throws CORRUPT on damage that is not a torn tail. */
export async function scanWal(
  fs: FileSystem,
  dir: string,
  options: WalScanOptions,
): Promise<WalScanReport> {
  const files = await listWalFiles(fs, dir);
  const fromLsn = options.fromLsn ?? 1;
  const state: ScanState = {
    lastLsn: undefined,
    records: 0,
    end: undefined,
    tornTail: undefined,
    firstLsnBySeq: new Map(),
    firstLsn: undefined,
  };
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const isLast = i === files.length - 1;
    const bytes = await fs.readFile(file.path);
    const scan: FileScan = { file, bytes, isLast, fromLsn, options, state };
    if (!checkFileHeader(scan)) {
      state.end = { seq: file.seq, offset: 0 };
      break;
    }
    if (scanRecords(scan)) break;
  }
  return {
    files,
    records: state.records,
    lastLsn: state.lastLsn ?? fromLsn - 1,
    end: state.end,
    tornTail: state.tornTail,
    firstLsnBySeq: state.firstLsnBySeq,
    firstLsn: state.firstLsn,
  };
}

/**
 * Classifies damage at `offset`: a torn tail (recorded) or corruption (thrown, or only
 * recorded with `stopAtDamage`).
 */
function damage(scan: FileScan, offset: number, reason: string): void {
  const { file, bytes, isLast, options } = scan;
  const followed = validRecordFollows(bytes, offset + 1, scan.state.lastLsn ?? scan.fromLsn - 1);
  const corruption = !isLast || options.cleanlyClosed || followed;
  if (corruption && options.stopAtDamage !== true) {
    const why = !isLast
      ? 'later WAL files follow it'
      : options.cleanlyClosed
        ? 'the database was closed cleanly, so the whole log was durable'
        : 'intact records follow it';
    throw corrupt(file.path, offset, `WAL ${reason} (not a torn tail: ${why})`);
  }
  scan.state.tornTail = {
    file: file.path,
    offset,
    droppedBytes: bytes.length - offset,
    reason,
    kind: corruption ? 'corruption' : 'torn-tail',
  };
}

/** Checks the file header; false when it is damaged (the scan ends there). */
function checkFileHeader(scan: FileScan): boolean {
  const { file } = scan;
  const header = decodeWalHeader(scan.bytes);
  if (header.kind !== 'ok') {
    damage(scan, 0, header.kind === 'bad' ? header.reason : 'incomplete file header');
    return false;
  }
  if (header.major > FORMAT_MAJOR) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${file.path} uses WAL format ${header.major}.${header.minor}, newer than this Quiver reads (${FORMAT_MAJOR}.x). Upgrade quiverdb to open this database.`,
      { file: file.path, offset: 4, expected: FORMAT_MAJOR, received: header.major },
    );
  }
  if (header.seq !== file.seq) {
    throw corrupt(file.path, 8, `WAL header sequence ${header.seq} does not match file name`);
  }
  return true;
}

/** Hands the file's records on in order; true when damage ended the file (and the log). */
function scanRecords(scan: FileScan): boolean {
  const { file, bytes, state } = scan;
  let offset = WAL_HEADER_SIZE;
  let damaged = false;
  while (offset < bytes.length) {
    const r = decodeWalRecord(bytes, offset);
    if (r.kind !== 'record') {
      damage(scan, offset, r.kind === 'bad' ? r.reason : 'record runs past the end of the file');
      damaged = true;
      break;
    }
    const lsn = r.record.lsn;
    if (state.lastLsn !== undefined && lsn !== state.lastLsn + 1) {
      damage(scan, offset, `LSN ${lsn} breaks the sequence (expected ${state.lastLsn + 1})`);
      damaged = true;
      break;
    }
    state.lastLsn = lsn;
    state.firstLsn ??= lsn;
    if (!state.firstLsnBySeq.has(file.seq)) state.firstLsnBySeq.set(file.seq, lsn);
    if (lsn >= scan.fromLsn) {
      scan.options.onRecord(r.record, file.path, offset);
      state.records++;
    }
    offset = r.next;
  }
  state.end = { seq: file.seq, offset };
  return damaged;
}

/**
 * True when an intact record with a later LSN starts anywhere at or after `from`: then the
 * damage before it cannot be a torn tail. Cheap: most offsets fail the LSN check.
 */
function validRecordFollows(bytes: Uint8Array, from: number, lastLsn: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = from; p + 17 <= bytes.length; p++) {
    const lsn = view.getUint32(p + 12, true) * 0x1_0000_0000 + view.getUint32(p + 8, true);
    if (lsn <= lastLsn || lsn > lastLsn + 100_000_000) continue;
    if (decodeWalRecord(bytes, p).kind === 'record') return true;
  }
  return false;
}
