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
import { MANIFEST_FILE, parseWalFileName, SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { decodeManifest } from '../storage/manifest/manifest.js';
import type { BackupChain, BackupFile } from './backup.js';
import { loadBackupChain, readBackupFile } from './backup.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';
import type { WalSource } from './restore-wal.js';
import { archivedWalSources, copyWalRange, lsnAtTime } from './restore-wal.js';
import type { VerifyReport } from './verify.js';
import { verifyDatabase } from './verify.js';
import type { StagedTarget } from './staged-target.js';
import { discardStaged, STAGE_DIR, stageTarget, swapStaged } from './staged-target.js';

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

/** One restore under way: where it writes, and what it did so far. */
interface RestoreRun {
  readonly fs: FileSystem;
  readonly chain: BackupChain;
  readonly target: string;
  /** The staging directory inside the target, and whether the swap happened. */
  readonly staged: StagedTarget;
  readonly stage: string;
  readonly dryRun: boolean;
  readonly progress: ProgressFn;
  readonly steps: string[];
  bytesWritten: number;
}

/** What was read and checked before the target is touched. */
interface RestorePlan {
  readonly manifestBytes: Uint8Array | undefined;
  readonly walStart: number;
  readonly segmentEntries: readonly BackupFile[];
  readonly sources: readonly WalSource[];
}

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
  const dryRun = options.dryRun === true;
  const archives = options.walArchives ?? [];
  const steps: string[] = [];
  const chain = await loadBackupChain(fs, backupPath);
  const top = chain.manifests[0]!;
  steps.push(
    `read backup ${top.id} (${top.kind}${chain.paths.length > 1 ? `, chain of ${chain.paths.length}` : ''}), LSN ${top.lsn.min}..${top.lsn.max}`,
  );
  const { lsn, lsnSource } = await resolveTargetLsn(fs, chain, archives, options, steps);
  const plan = await readRestorePlan(fs, chain, backupPath, lsn, archives);

  // Everything is written into a staging directory inside the target first; the target's
  // old contents are replaced only once every file checked out and the WAL reached `lsn`,
  // so a damaged backup or a missing WAL range leaves the target as it was.
  const staged = await stageTarget(fs, target, options.force === true, !dryRun);
  const run: RestoreRun = {
    fs,
    chain,
    target,
    staged,
    stage: staged.stage,
    dryRun,
    progress: options.progress ?? NO_PROGRESS,
    steps,
    bytesWritten: 0,
  };
  try {
    await stageManifest(run, plan);
    await stageSegments(run, plan.segmentEntries);
    const wal = await stageWal(run, plan, lsn, archives);
    let verify: VerifyReport | undefined;
    if (!dryRun) verify = await replaceTarget(run, options.verify !== false);
    else steps.push('open the restored database (replay), close it, and run verify');
    return {
      backup: backupPath,
      chain: chain.paths,
      target,
      dryRun,
      lsn,
      lsnSource,
      segmentFiles: plan.segmentEntries.length,
      walRecords: wal.records,
      walRecordsFromArchive: wal.fromArchive,
      bytesWritten: run.bytesWritten,
      steps,
      verify,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    if (!dryRun) await discardStaged(fs, staged);
    throw e;
  }
}

/** The LSN to restore to, and why: the backup's end, `toLsn`, or `toTime` resolved. */
async function resolveTargetLsn(
  fs: FileSystem,
  chain: BackupChain,
  archives: readonly string[],
  options: RestoreOptions,
  steps: string[],
): Promise<{ lsn: number; lsnSource: RestoreReport['lsnSource'] }> {
  const top = chain.manifests[0]!;
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
    lsn = await lsnAtTimeOrRefuse(fs, chain, archives, options.toTime);
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
  return { lsn, lsnSource };
}

async function lsnAtTimeOrRefuse(
  fs: FileSystem,
  chain: BackupChain,
  archives: readonly string[],
  time: Date,
): Promise<number> {
  const top = chain.manifests[0]!;
  if (Number.isNaN(time.getTime())) {
    throw new QuiverError('INVALID_ARGUMENT', '--to-time must be an ISO 8601 time.');
  }
  const at = await lsnAtTime(fs, chain, archives, time);
  if (at === undefined || at < top.lsn.min) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `No known write of backup ${top.id} or the WAL archive is at or before ${time.toISOString()} and after the backup's start (LSN ${top.lsn.min}). Restore an older backup, or give --wal-archive.`,
    );
  }
  return at;
}

/** Reads and checks the manifest, lists the segment entries and the WAL sources up to `lsn`. */
async function readRestorePlan(
  fs: FileSystem,
  chain: BackupChain,
  backupPath: string,
  lsn: number,
  archives: readonly string[],
): Promise<RestorePlan> {
  const top = chain.manifests[0]!;
  const manifestEntry = top.files.find((f) => f.path === MANIFEST_FILE);
  const manifestBytes =
    manifestEntry === undefined ? undefined : await readBackupFile(fs, chain, MANIFEST_FILE);
  const manifest =
    manifestBytes === undefined
      ? undefined
      : decodeManifest(manifestBytes, `${backupPath}/MANIFEST`);
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
    sources.push(...(await archivedWalSources(fs, archives)));
  }
  return { manifestBytes, walStart: manifest?.walStartLsn ?? 1, segmentEntries, sources };
}

/** Writes `bytes` as the new file `path`, synced. */
async function writeNewFile(fs: FileSystem, path: string, bytes: Uint8Array): Promise<void> {
  const h = await fs.open(path, 'create-new');
  try {
    await h.write(bytes, 0);
    await h.sync();
  } finally {
    await h.close();
  }
}

async function stageManifest(run: RestoreRun, plan: RestorePlan): Promise<void> {
  const top = run.chain.manifests[0]!;
  if (plan.manifestBytes !== undefined) {
    if (!run.dryRun)
      await writeNewFile(run.fs, `${run.stage}/${MANIFEST_FILE}`, plan.manifestBytes);
    run.bytesWritten += plan.manifestBytes.length;
  }
  run.steps.push(
    `write MANIFEST (generation ${top.manifestGeneration}, replay from LSN ${plan.walStart})`,
  );
}

async function stageSegments(run: RestoreRun, entries: readonly BackupFile[]): Promise<void> {
  const { fs, stage, dryRun } = run;
  if (!dryRun) await fs.mkdirp(`${stage}/${SEGMENT_DIR}`);
  let done = 0;
  for (const e of entries) {
    const bytes = await readBackupFile(fs, run.chain, e.path);
    if (!dryRun) {
      // backup.json was checked on reading; checked again where a name becomes a path.
      containedPath(stage, e.path, 'backup entry');
      await writeNewFile(fs, `${stage}/${e.path}`, bytes);
    }
    run.bytesWritten += bytes.length;
    run.progress({ phase: 'segments', done: ++done, total: entries.length, unit: 'files' });
  }
  if (!dryRun) await fs.syncDir(`${stage}/${SEGMENT_DIR}`);
  run.steps.push(`write ${entries.length} segment and tombstone files`);
}

/** The WAL: frames walStart..lsn, in order, from the backup first, then the archives. */
async function stageWal(
  run: RestoreRun,
  plan: RestorePlan,
  lsn: number,
  archives: readonly string[],
): Promise<{ records: number; fromArchive: number }> {
  const wal = await copyWalRange({
    fs: run.fs,
    dir: `${run.stage}/${WAL_DIR}`,
    dryRun: run.dryRun,
    progress: run.progress,
    sources: plan.sources,
    from: plan.walStart,
    to: lsn,
    archives,
  });
  run.bytesWritten += wal.bytes;
  run.steps.push(
    `write WAL records ${plan.walStart}..${lsn} (${wal.records} records, ${wal.fromArchive} from the archive)`,
  );
  return wal;
}

/** Swaps the staged files in, opens the result once (replay) and verifies it. */
async function replaceTarget(run: RestoreRun, verify: boolean): Promise<VerifyReport | undefined> {
  const { fs, target, steps } = run;
  await swapStaged(fs, run.staged);
  const existing = run.staged.existing.filter((n) => n !== STAGE_DIR);
  if (existing.length > 0) steps.push(`replace the ${existing.length} old entries of ${target}`);
  // Open once: the engine's recovery replays the WAL; a clean close leaves the mark.
  const db = await Quiver.open(target, { autoCompact: false });
  await db.close();
  steps.push('open the restored database (replay) and close it cleanly');
  if (!verify) return undefined;
  const report = await verifyDatabase(target, { fileSystem: fs, online: false });
  steps.push(`verify: ${report.status} (${report.errors} errors, ${report.warnings} warnings)`);
  return report;
}
