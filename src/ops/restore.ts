/**
 * Restore and point-in-time recovery: rebuilds a database directory from a backup (and its
 * base chain), optionally rolled forward or cut back to an LSN or a time with WAL files
 * from an archive (`walArchiveDir`) or a live `wal/` directory. docs/RUNBOOK.md "Restore".
 *
 * The target gets the backup's MANIFEST and segment files, and a WAL holding exactly the
 * records from the manifest's `walStartLsn` up to the target LSN (frames copied byte for
 * byte, in LSN order, from whichever source has them). Opening it with Quiver.open replays
 * them — the engine's own recovery, so the result is what the database was at that LSN.
 * Every stored file's SHA-256 is checked first; a mismatch refuses the restore. Then
 * verify runs on the result.
 */
import { containedPath } from '../common/contained-path.js';
import { QuiverError } from '../common/quiver-error.js';
import { Quiver } from '../engine/quiver.js';
import {
  MANIFEST_FILE,
  parseWalFileName,
  SEGMENT_DIR,
  WAL_DIR,
  WAL_FILE_TARGET_BYTES,
  WAL_HEADER_SIZE,
  walFileName,
} from '../storage/format.js';
import type { FileHandle, FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { decodeManifest } from '../storage/manifest/manifest.js';
import { readWalTimes, WAL_TIMES_SUFFIX } from '../storage/wal/wal-archive.js';
import { decodeWalHeader, decodeWalRecord, encodeWalHeader } from '../storage/wal/wal-record.js';
import type { BackupChain } from './backup.js';
import { loadBackupChain, readBackupFile } from './backup.js';
import { checkReplaceable, removeEntries } from './ops-files.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';
import type { VerifyReport } from './verify.js';
import { verifyDatabase } from './verify.js';

export interface RestoreOptions {
  readonly fileSystem?: FileSystem;
  /** Restore to exactly this LSN (every record up to it, none after). */
  readonly toLsn?: number;
  /** Restore to this time: every record durable at or before it. */
  readonly toTime?: Date;
  /** Directories with more WAL files: the WAL archive, or a database's live `wal/`. */
  readonly walArchives?: readonly string[];
  /** Replace the contents of a non-empty target. */
  readonly force?: boolean;
  /** Plan only: read and check everything, write nothing. */
  readonly dryRun?: boolean;
  /** Run verify on the result (default true). */
  readonly verify?: boolean;
  readonly progress?: ProgressFn;
}

export interface RestoreReport {
  readonly backup: string;
  readonly chain: readonly string[];
  readonly target: string;
  readonly dryRun: boolean;
  /** The LSN the restored database ends at. */
  readonly lsn: number;
  /** Why that LSN: the backup's end, --to-lsn, or the time resolved through the index. */
  readonly lsnSource: 'backup' | 'to-lsn' | 'to-time';
  readonly segmentFiles: number;
  readonly walRecords: number;
  readonly walRecordsFromArchive: number;
  readonly bytesWritten: number;
  /** What was (or, with dryRun, would be) done, step by step. */
  readonly steps: readonly string[];
  readonly verify: VerifyReport | undefined;
  readonly duration_seconds: number;
}

interface WalSource {
  readonly label: string;
  readonly fromArchive: boolean;
  readonly load: () => Promise<Uint8Array>;
  readonly seq: number;
}

/** Collects time samples from the chain and the archives; returns the LSN for `time`. */
async function lsnAtTime(
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

/** Where a restore writes before it replaces the target's contents. */
const STAGE_DIR = '.restore-staging';

/**
 * Restores the backup at `backupPath` into `target` — as it was at the backup's LSN, or at
 * `toLsn` / `toTime` using archived WAL. Refuses a non-empty target without `force`, a
 * damaged backup, and a point before the backup's manifest (restore an older backup then).
 */
export async function restoreBackup(
  backupPath: string,
  target: string,
  options: RestoreOptions = {},
): Promise<RestoreReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  const progress = options.progress ?? NO_PROGRESS;
  const dryRun = options.dryRun === true;
  const archives = options.walArchives ?? [];
  const steps: string[] = [];
  const chain = await loadBackupChain(fs, backupPath);
  const top = chain.manifests[0]!;
  steps.push(
    `read backup ${top.id} (${top.kind}${chain.paths.length > 1 ? `, chain of ${chain.paths.length}` : ''}), LSN ${top.lsn.min}..${top.lsn.max}`,
  );
  if (options.toLsn !== undefined && options.toTime !== undefined) {
    throw new QuiverError('INVALID_ARGUMENT', 'Give --to-lsn or --to-time, not both.');
  }
  let lsn = top.lsn.max;
  let lsnSource: RestoreReport['lsnSource'] = 'backup';
  if (options.toLsn !== undefined) {
    if (!Number.isSafeInteger(options.toLsn) || options.toLsn < 0) {
      throw new QuiverError('INVALID_ARGUMENT', `--to-lsn must be a non-negative integer.`);
    }
    lsn = options.toLsn;
    lsnSource = 'to-lsn';
  } else if (options.toTime !== undefined) {
    if (Number.isNaN(options.toTime.getTime())) {
      throw new QuiverError('INVALID_ARGUMENT', '--to-time must be an ISO 8601 time.');
    }
    const at = await lsnAtTime(fs, chain, archives, options.toTime);
    if (at === undefined || at < top.lsn.min) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `No known write of backup ${top.id} or the WAL archive is at or before ${options.toTime.toISOString()} and after the backup's start (LSN ${top.lsn.min}). Restore an older backup, or give --wal-archive.`,
      );
    }
    lsn = at;
    lsnSource = 'to-time';
    steps.push(`resolved ${options.toTime.toISOString()} to LSN ${lsn} through the time index`);
  }
  if (lsn < top.lsn.min) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Backup ${top.id} holds the database from LSN ${top.lsn.min} on; LSN ${lsn} is before it. Restore an older backup.`,
      { expected: top.lsn.min, received: lsn },
    );
  }

  // Read and check every file before touching the target.
  const manifestEntry = top.files.find((f) => f.path === MANIFEST_FILE);
  const manifestBytes =
    manifestEntry === undefined ? undefined : await readBackupFile(fs, chain, MANIFEST_FILE);
  const manifest =
    manifestBytes === undefined
      ? undefined
      : decodeManifest(manifestBytes, `${backupPath}/MANIFEST`);
  const walStart = manifest?.walStartLsn ?? 1;
  const segmentEntries = top.files.filter((f) => f.path.startsWith(`${SEGMENT_DIR}/`));
  const backupWal = top.files
    .filter((f) => f.path.startsWith(`${WAL_DIR}/`))
    .map((f) => ({ f, seq: parseWalFileName(f.path.slice(WAL_DIR.length + 1)) ?? 0 }))
    .sort((a, b) => a.seq - b.seq);
  const sources: WalSource[] = backupWal.map(({ f, seq }) => ({
    label: `${backupPath} ${f.path}`,
    fromArchive: false,
    seq,
    load: () => readBackupFile(fs, chain, f.path),
  }));
  if (lsn > top.lsn.max) {
    if (archives.length === 0) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `Backup ${top.id} ends at LSN ${top.lsn.max}; restoring to LSN ${lsn} needs the WAL after it: give --wal-archive DIR (the archive, and/or the database's wal/ directory).`,
      );
    }
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
    sources.push(...archived.sort((a, b) => a.seq - b.seq));
  }

  // Everything is written into a staging directory inside the target first; the target's
  // old contents are replaced only once every file checked out and the WAL reached `lsn`,
  // so a damaged backup or a missing WAL range leaves the target as it was.
  const existing = await checkReplaceable(fs, target, options.force === true, 'Restore target');
  const stage = `${target}/${STAGE_DIR}`;
  if (!dryRun) {
    await fs.mkdirp(target);
    if (existing.includes(STAGE_DIR)) await fs.removeDir(stage);
    await fs.mkdirp(stage);
  }
  let bytesWritten = 0;
  let swapped = false;
  try {
    if (manifestBytes !== undefined) {
      if (!dryRun) {
        const h = await fs.open(`${stage}/${MANIFEST_FILE}`, 'create-new');
        try {
          await h.write(manifestBytes, 0);
          await h.sync();
        } finally {
          await h.close();
        }
      }
      bytesWritten += manifestBytes.length;
    }
    steps.push(
      `write MANIFEST (generation ${top.manifestGeneration}, replay from LSN ${walStart})`,
    );
    if (!dryRun) await fs.mkdirp(`${stage}/${SEGMENT_DIR}`);
    let done = 0;
    for (const e of segmentEntries) {
      const bytes = await readBackupFile(fs, chain, e.path);
      if (!dryRun) {
        // backup.json was checked on reading; checked again where a name becomes a path.
        containedPath(stage, e.path, 'backup entry');
        const h = await fs.open(`${stage}/${e.path}`, 'create-new');
        try {
          await h.write(bytes, 0);
          await h.sync();
        } finally {
          await h.close();
        }
      }
      bytesWritten += bytes.length;
      progress({ phase: 'segments', done: ++done, total: segmentEntries.length, unit: 'files' });
    }
    if (!dryRun) await fs.syncDir(`${stage}/${SEGMENT_DIR}`);
    steps.push(`write ${segmentEntries.length} segment and tombstone files`);

    // The WAL: frames walStart..lsn, in order, from the backup first, then the archives.
    const out = new WalOutput(fs, `${stage}/${WAL_DIR}`, dryRun);
    let next = walStart;
    let records = 0;
    let fromArchive = 0;
    // First LSN of each source that starts past `next`: where a gap (a deleted file) ends.
    const resumesAt: number[] = [];
    for (const src of sources) {
      if (next > lsn) break;
      const bytes = await src.load();
      const header = decodeWalHeader(bytes);
      if (header.kind !== 'ok') continue;
      let offset = WAL_HEADER_SIZE;
      while (offset < bytes.length && next <= lsn) {
        const r = decodeWalRecord(bytes, offset);
        if (r.kind !== 'record') break;
        const l = r.record.lsn;
        if (l === next) {
          await out.write(bytes.subarray(offset, r.next));
          next++;
          records++;
          if (src.fromArchive) fromArchive++;
        } else if (l > next) {
          resumesAt.push(l);
          break; // this file starts after a gap; a later source may fill it
        }
        offset = r.next;
      }
      progress({ phase: 'wal', done: Math.min(next - 1, lsn), total: lsn, unit: 'records' });
    }
    await out.close();
    bytesWritten += out.bytes;
    const reached = next - 1;
    if (reached < lsn) {
      // Name the gap itself: a file deleted from the middle of the archive loses only its
      // records, and the operator looks for that file, not for "everything after it".
      const after = Math.min(...resumesAt.filter((l) => l > reached && l <= lsn));
      const gapEnd = Number.isFinite(after) ? after - 1 : lsn;
      const where = archives.join(', ') || 'none';
      const rest =
        gapEnd < lsn
          ? ` (a WAL file is missing from them: records ${gapEnd + 1} on are there but cannot be replayed across the gap)`
          : '';
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `WAL records ${reached + 1}..${gapEnd} are in neither the backup nor the given WAL archives (${where})${rest}; the latest point reachable is LSN ${reached}.`,
        { expected: lsn, received: reached },
      );
    }
    steps.push(
      `write WAL records ${walStart}..${lsn} (${records} records, ${fromArchive} from the archive)`,
    );
    let verify: VerifyReport | undefined;
    if (!dryRun) {
      // Swap: the old contents go, the staged files move up (renames within one directory).
      await removeEntries(
        fs,
        target,
        existing.filter((n) => n !== STAGE_DIR),
      );
      swapped = true;
      for (const name of await fs.list(stage))
        await fs.rename(`${stage}/${name}`, `${target}/${name}`);
      await fs.removeDir(stage);
      await fs.syncDir(target);
      if (existing.length > 0)
        steps.push(`replace the ${existing.length} old entries of ${target}`);
      // Open once: the engine's recovery replays the WAL; a clean close leaves the mark.
      const db = await Quiver.open(target, { autoCompact: false });
      await db.close();
      steps.push('open the restored database (replay) and close it cleanly');
      if (options.verify !== false) {
        verify = await verifyDatabase(target, { fileSystem: fs, online: false });
        steps.push(
          `verify: ${verify.status} (${verify.errors} errors, ${verify.warnings} warnings)`,
        );
      }
    } else {
      steps.push('open the restored database (replay), close it, and run verify');
    }
    return {
      backup: backupPath,
      chain: chain.paths,
      target,
      dryRun,
      lsn,
      lsnSource,
      segmentFiles: segmentEntries.length,
      walRecords: records,
      walRecordsFromArchive: fromArchive,
      bytesWritten,
      steps,
      verify,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    if (!dryRun) {
      // Before the swap the target is untouched: drop the staging directory. After it,
      // the target holds a partial restore: empty it rather than leave that behind.
      const cleanup = swapped
        ? fs.list(target).then((names) => removeEntries(fs, target, names))
        : fs.removeDir(stage);
      await cleanup.catch(() => undefined);
    }
    throw e;
  }
}
