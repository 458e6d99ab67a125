/**
 * The WAL side of a restore (ops/restore.ts): where WAL files come from (the backup, then
 * archive directories), the LSN a time maps to, and the copy of exactly the frames
 * walStart..lsn, byte for byte and in LSN order, into the target's wal/.
 */
import { QuiverError } from '../common/quiver-error.js';
import {
  parseWalFileName,
  WAL_FILE_TARGET_BYTES,
  WAL_HEADER_SIZE,
  walFileName,
} from '../storage/format.js';
import type { FileHandle, FileSystem } from '../storage/io/file-system.js';
import { readWalTimes, WAL_TIMES_SUFFIX } from '../storage/wal/wal-archive.js';
import { decodeWalHeader, decodeWalRecord, encodeWalHeader } from '../storage/wal/wal-record.js';
import type { BackupChain } from './backup.js';
import type { ProgressFn } from './progress.js';

/** One WAL file a restore may copy frames from. */
export interface WalSource {
  readonly label: string;
  readonly fromArchive: boolean;
  readonly load: () => Promise<Uint8Array>;
  readonly seq: number;
}

/** Collects time samples from the chain and the archives; returns the LSN for `time`. */
export async function lsnAtTime(
  fs: FileSystem,
  chain: BackupChain,
  archives: readonly string[],
  time: Date,
): Promise<number | undefined> {
  const samples: [number, number][] = [];
  for (const m of chain.manifests) for (const [l, t] of m.timeIndex) samples.push([l, t]);
  for (const dir of archives) {
    for (const name of await fs.list(dir)) {
      if (!name.endsWith(WAL_TIMES_SUFFIX)) continue;
      samples.push(...(await readWalTimes(fs, dir, name.slice(0, -WAL_TIMES_SUFFIX.length))));
    }
  }
  const limit = time.getTime();
  let best: number | undefined;
  for (const [l, t] of samples) if (t <= limit && (best === undefined || l > best)) best = l;
  return best;
}

/** Streams WAL frames S..N into the target's wal/ (or only counts them in a dry run). */
class WalOutput {
  private handle: FileHandle | undefined;
  private seq = 0;
  private offset = 0;
  bytes = 0;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly dryRun: boolean,
  ) {}

  async write(frame: Uint8Array): Promise<void> {
    this.bytes += frame.length;
    if (this.dryRun) return;
    if (this.handle === undefined || this.offset >= WAL_FILE_TARGET_BYTES) {
      await this.finishFile();
      this.seq++;
      await this.fs.mkdirp(this.dir);
      this.handle = await this.fs.open(`${this.dir}/${walFileName(this.seq)}`, 'create-new');
      await this.handle.write(encodeWalHeader(this.seq), 0);
      this.offset = WAL_HEADER_SIZE;
    }
    await this.handle.write(frame, this.offset);
    this.offset += frame.length;
  }

  private async finishFile(): Promise<void> {
    if (this.handle === undefined) return;
    await this.handle.sync();
    await this.handle.close();
    this.handle = undefined;
  }

  async close(): Promise<void> {
    await this.finishFile();
    if (!this.dryRun && this.seq > 0) await this.fs.syncDir(this.dir);
  }
}

/** The WAL copy's position and counts. */
interface WalCopy {
  next: number;
  records: number;
  fromArchive: number;
  /** First LSN of each source that starts past `next`: where a gap (a deleted file) ends. */
  readonly resumesAt: number[];
}

/** The WAL files of the archive directories (each path once), in sequence order. */
export async function archivedWalSources(
  fs: FileSystem,
  archives: readonly string[],
): Promise<WalSource[]> {
  const seen = new Set<string>();
  const archived: WalSource[] = [];
  for (const dir of archives) {
    for (const name of await fs.list(dir)) {
      const seq = parseWalFileName(name);
      if (seq === undefined || seen.has(`${dir}/${name}`)) continue;
      seen.add(`${dir}/${name}`);
      archived.push({
        label: `${dir}/${name}`,
        fromArchive: true,
        seq,
        load: () => fs.readFile(`${dir}/${name}`),
      });
    }
  }
  return archived.sort((a, b) => a.seq - b.seq);
}

/** Where and what {@link copyWalRange} copies. */
export interface WalRangeCopy {
  readonly fs: FileSystem;
  /** The wal/ directory written (nothing is written in a dry run). */
  readonly dir: string;
  readonly dryRun: boolean;
  readonly progress: ProgressFn;
  readonly sources: readonly WalSource[];
  readonly from: number;
  readonly to: number;
  /** The archive directories given, named when the range is not there. */
  readonly archives: readonly string[];
}

/**
 * Copies frames `from..to`, in order, from the sources (the backup's first, then the
 * archives'). Throws INVALID_ARGUMENT naming the gap when a record is in none of them.
 */
export async function copyWalRange(
  c: WalRangeCopy,
): Promise<{ records: number; fromArchive: number; bytes: number }> {
  const out = new WalOutput(c.fs, c.dir, c.dryRun);
  const copy: WalCopy = { next: c.from, records: 0, fromArchive: 0, resumesAt: [] };
  for (const src of c.sources) {
    if (copy.next > c.to) break;
    if (!(await copyFrames(src, await src.load(), copy, out, c.to))) continue;
    c.progress({ phase: 'wal', done: Math.min(copy.next - 1, c.to), total: c.to, unit: 'records' });
  }
  await out.close();
  const reached = copy.next - 1;
  if (reached < c.to) throw missingWal(reached, c.to, copy.resumesAt, c.archives);
  return { records: copy.records, fromArchive: copy.fromArchive, bytes: out.bytes };
}

/**
 * Copies the frames of one WAL file that continue the copy (up to `lsn`) into `out`.
 * False when the file has no valid header (skipped).
 */
async function copyFrames(
  src: WalSource,
  bytes: Uint8Array,
  copy: WalCopy,
  out: WalOutput,
  lsn: number,
): Promise<boolean> {
  const header = decodeWalHeader(bytes);
  if (header.kind !== 'ok') return false;
  let offset = WAL_HEADER_SIZE;
  while (offset < bytes.length && copy.next <= lsn) {
    const r = decodeWalRecord(bytes, offset);
    if (r.kind !== 'record') break;
    const l = r.record.lsn;
    if (l === copy.next) {
      await out.write(bytes.subarray(offset, r.next));
      copy.next++;
      copy.records++;
      if (src.fromArchive) copy.fromArchive++;
    } else if (l > copy.next) {
      copy.resumesAt.push(l);
      break; // this file starts after a gap; a later source may fill it
    }
    offset = r.next;
  }
  return true;
}

function missingWal(
  reached: number,
  lsn: number,
  resumesAt: readonly number[],
  archives: readonly string[],
): QuiverError {
  // Name the gap itself: a file deleted from the middle of the archive loses only its
  // records, and the operator looks for that file, not for "everything after it".
  const after = Math.min(...resumesAt.filter((l) => l > reached && l <= lsn));
  const gapEnd = Number.isFinite(after) ? after - 1 : lsn;
  const where = archives.join(', ') || 'none';
  const rest =
    gapEnd < lsn
      ? ` (a WAL file is missing from them: records ${gapEnd + 1} on are there but cannot be replayed across the gap)`
      : '';
  return new QuiverError(
    'INVALID_ARGUMENT',
    `WAL records ${reached + 1}..${gapEnd} are in neither the backup nor the given WAL archives (${where})${rest}; the latest point reachable is LSN ${reached}.`,
    { expected: lsn, received: reached },
  );
}
