/**
 * `quiver backup create|verify|list|prune|restore`: online backups, their checks and
 * retention, and full or point-in-time restore (ops/backup.ts, ops/restore.ts).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { invalidArgument } from '../common/quiver-error.js';
import { createBackup, listBackups, pruneBackups, verifyBackup } from '../ops/backup.js';
import { restoreBackup } from '../ops/restore.js';
import type { BackupVerifyReport } from '../ops/backup.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import {
  EXIT,
  formatBytes,
  parseAge,
  parseInteger,
  printJson,
  printTable,
  progressView,
} from './cli-support.js';
import {
  clusterBackupCreate,
  clusterBackupRestore,
  clusterBackupVerify,
  clusterServers,
} from './cluster-backup-command.js';
import { requireDatabase } from './database-path.js';
import { isClusterBackup } from '../cluster/cluster-backup.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseTime(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2025-01-31T12:00:00Z.');
  return d;
}

/**
 * Refuses a non-empty backup target before any work, with advice that fits: backups never
 * overwrite, so there is no --force to suggest (ops/backup.ts would name one).
 */
async function checkBackupTarget(out: string): Promise<void> {
  const entries = await new NodeFileSystem().list(out);
  if (entries.length > 0) {
    throw invalidArgument(
      `Backup target ${out} is not empty (${entries.length} entries): a backup never overwrites. Choose a new directory, e.g. ${out}-2, or remove this one first.`,
      { file: out },
    );
  }
}

/** Prints the report of a backup check; true when it found no problem. */
function printBackupVerify(r: BackupVerifyReport): boolean {
  process.stdout.write(
    `${r.status === 'ok' ? 'OK' : 'PROBLEMS'}: ${r.checked_files} files, ${formatBytes(r.checked_bytes)} checked in ${r.chain.length} backup(s)\n`,
  );
  for (const p of r.problems) process.stdout.write(`BAD ${p.file}: ${p.what}\n`);
  return r.status === 'ok';
}

/**
 * The backup `restore` reads: PATH itself, or for `latest` the newest complete backup in
 * the --from directory (the listing `backup list` shows; unfinished ones are skipped).
 */
async function chooseBackup(path: string, from: string | undefined): Promise<string> {
  if (path !== 'latest') {
    if (from !== undefined) throw invalidArgument('--from goes with the backup path "latest".');
    return path;
  }
  if (from === undefined) {
    throw invalidArgument(
      '"latest" needs --from DIR, the directory holding the backups (as for "quiver backup list DIR").',
    );
  }
  const complete = (await listBackups(from)).filter((b) => b.kind !== 'unfinished');
  const newest = complete[complete.length - 1];
  if (newest === undefined) {
    throw invalidArgument(
      `No complete backup in ${from}: "quiver backup list ${from}" shows what is there.`,
      { file: from },
    );
  }
  process.stderr.write(
    `latest: the newest complete backup in ${from} is ${newest.path} (${newest.kind}, created ${newest.createdAt ?? '?'}${newest.lsn === undefined ? '' : `, LSN ${newest.lsn.max}`})\n`,
  );
  return newest.path;
}

/** Options of `backup create`. */
interface CreateOptions {
  output: string;
  cluster?: string;
  collection: string[];
  incremental?: boolean;
  base?: string;
  compress?: boolean;
  verify?: boolean;
  json?: boolean;
}

/** Options of `backup prune`. */
interface PruneOptions {
  keep?: number;
  olderThan?: number;
  dryRun?: boolean;
  json?: boolean;
}

/** Options of `backup restore`. */
interface RestoreOptions {
  output?: string;
  cluster?: string;
  collection: string[];
  from?: string;
  toLsn?: number;
  toTime?: Date;
  walArchive: string[];
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerBackupCommand(program: Command): void {
  const backup = program
    .command('backup')
    .description('Online backups: create, verify, list, prune, restore (also to a point in time).')
    .addHelpText('after', '\nExample:\n  $ quiver backup create ./data -o /backups/2025-01-31');
  registerCreate(backup);
  registerVerify(backup);
  registerList(backup);
  registerPrune(backup);
  registerRestore(backup);
}

function registerCreate(backup: Command): void {
  backup
    .command('create')
    .description(
      'Back up a database, online: consistent at one LSN while a server writes to it. With --cluster, a cut of every shard stream of a cluster.',
    )
    .argument('[dir]', 'database directory (not with --cluster)')
    .requiredOption('-o, --output <path>', 'new backup directory')
    .option('--cluster <urls>', 'back up the cluster on these NATS servers (comma-separated)')
    .option('--collection <name>', 'with --cluster: only this collection (repeatable)', collect, [])
    .option('--incremental', 'store only what is new since --base')
    .option('--base <path>', 'the base backup of an incremental')
    .option('--compress', 'gzip the stored files')
    .option('--verify', 'verify the backup right after writing it (exit 1 on a problem)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver backup create ./data -o /backups/full-1 --verify\n  $ quiver backup create ./data -o /backups/inc-1 --incremental --base /backups/full-1 --compress\n  $ quiver backup create --cluster nats://127.0.0.1:4222,nats://127.0.0.1:4223 -o /backups/cluster-1 --verify',
    )
    .action(createAction);
}

/** `backup create`: writes the backup, verifies it when asked, prints the report. */
async function createAction(dir: string | undefined, opts: CreateOptions): Promise<void> {
  if ((opts.incremental === true) !== (opts.base !== undefined)) {
    throw invalidArgument('--incremental and --base <path> go together.');
  }
  if (opts.cluster !== undefined) {
    if (dir !== undefined || opts.incremental === true || opts.compress === true) {
      throw invalidArgument(
        '--cluster backs up the cluster on the NATS servers: give no directory, and no --incremental or --compress (a cluster backup is always full).',
      );
    }
    await checkBackupTarget(opts.output);
    await clusterBackupCreate(clusterServers(opts.cluster), opts);
    return;
  }
  if (dir === undefined) {
    throw invalidArgument('give the database directory to back up, or --cluster URLS.');
  }
  if (opts.collection.length > 0) {
    throw invalidArgument(
      '--collection goes with --cluster; a database backup holds every collection.',
    );
  }
  await requireDatabase(dir);
  await checkBackupTarget(opts.output);
  const view = progressView(opts.json === true);
  const r = await createBackup(dir, opts.output, {
    ...(opts.base === undefined ? {} : { base: opts.base }),
    compress: opts.compress === true,
    progress: view.fn,
  });
  view.stop();
  let verified: BackupVerifyReport | undefined;
  if (opts.verify === true) {
    const check = progressView(opts.json === true);
    verified = await verifyBackup(r.path, { progress: check.fn });
    check.stop();
    if (verified.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
  }
  if (opts.json === true) {
    printJson(verified === undefined ? r : { ...r, verify: verified });
    return;
  }
  process.stdout.write(
    `${r.kind} backup ${r.id} at LSN ${r.lsn.max} written to ${r.path}: ${r.filesStored}/${r.files} files stored, ${formatBytes(r.storedBytes)} of ${formatBytes(r.totalBytes)}, ${r.duration_seconds.toFixed(2)} s\n`,
  );
  if (verified !== undefined) {
    process.stdout.write('verify: ');
    printBackupVerify(verified);
  }
}

function registerVerify(backup: Command): void {
  backup
    .command('verify')
    .description(
      'Re-hash every file of a backup (and its bases). Exit 1 on a mismatch, naming the file.',
    )
    .argument('<path>', 'backup directory')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExample:\n  $ quiver backup verify /backups/full-1')
    .action(async (path: string, opts: { json?: boolean }) => {
      if (await isClusterBackup(new NodeFileSystem(), path)) {
        await clusterBackupVerify(path, opts.json);
        return;
      }
      const view = progressView(opts.json === true);
      const r = await verifyBackup(path, { progress: view.fn });
      view.stop();
      if (opts.json === true) printJson(r);
      else printBackupVerify(r);
      if (r.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
    });
}

function registerList(backup: Command): void {
  backup
    .command('list')
    .description('List the backups in a directory, oldest first.')
    .argument('<dir>', 'directory holding backups')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver backup list /backups')
    .action(async (dir: string, opts: { json?: boolean }) => {
      if ((await new NodeFileSystem().stat(dir))?.isDirectory !== true)
        throw invalidArgument(`no such directory of backups: ${dir}`, { file: dir });
      const list = await listBackups(dir);
      if (opts.json === true) printJson(list);
      else
        printTable(
          ['PATH', 'KIND', 'CREATED', 'LSN', 'BASE', 'STORED'],
          list.map((b) => [
            b.path,
            b.kind,
            b.createdAt ?? '',
            b.lsn === undefined ? '' : `${b.lsn.min}..${b.lsn.max}`,
            b.base ?? '',
            formatBytes(b.storedBytes),
          ]),
        );
    });
}

function registerPrune(backup: Command): void {
  backup
    .command('prune')
    .description('Remove old backups, never a base that a kept incremental needs.')
    .argument('<dir>', 'directory holding backups')
    .option('--keep <n>', 'keep the newest N backups', parseInteger('--keep', 1))
    .option('--older-than <age>', 'remove backups older than AGE (30m, 12h, 7d, 2w)', parseAge)
    .option('--dry-run', 'list what would be removed')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver backup prune /backups --keep 7\n  $ quiver backup prune /backups --older-than 30d --dry-run',
    )
    .action(pruneAction);
}

/** `backup prune`: removes (or lists) the backups past the retention, never a needed base. */
async function pruneAction(dir: string, opts: PruneOptions): Promise<void> {
  if ((opts.keep === undefined) === (opts.olderThan === undefined)) {
    throw invalidArgument('give exactly one of --keep N or --older-than AGE.');
  }
  const r = await pruneBackups(dir, {
    ...(opts.keep === undefined ? {} : { keep: opts.keep }),
    ...(opts.olderThan === undefined ? {} : { olderThanMs: opts.olderThan }),
    dryRun: opts.dryRun === true,
  });
  if (opts.json === true) printJson(r);
  else {
    for (const p of r.removed)
      process.stdout.write(`${r.dryRun ? 'would remove' : 'removed'} ${p}\n`);
    for (const p of r.keptAsBase) process.stdout.write(`kept ${p} (base of a kept incremental)\n`);
    process.stdout.write(
      `${r.kept.length} kept, ${r.removed.length} ${r.dryRun ? 'to remove' : 'removed'}\n`,
    );
  }
}

function registerRestore(backup: Command): void {
  backup
    .command('restore')
    .description(
      'Restore a backup into an empty directory, optionally to an LSN or a time (with the WAL archive).',
    )
    .argument('<path>', 'backup directory, or "latest" with --from DIR')
    .option('-o, --output <dir>', 'target database directory (empty, or --force)')
    .option('--cluster <urls>', 'a cluster backup: restore into the cluster on these NATS servers')
    .option(
      '--collection <name>',
      'a cluster backup: only this collection (repeatable)',
      collect,
      [],
    )
    .option('--from <dir>', 'with "latest": the directory holding the backups')
    .option('--to-lsn <n>', 'restore exactly up to this LSN', parseInteger('--to-lsn', 0))
    .option('--to-time <iso>', 'restore to this time (ISO 8601)', parseTime)
    .option(
      '--wal-archive <dir>',
      'WAL archive or live wal/ directory to replay from (repeatable)',
      collect,
      [],
    )
    .option('--force', 'replace the contents of a non-empty target')
    .option('--dry-run', 'print what would be done, write nothing')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver backup restore /backups/full-1 -o ./restored\n  $ quiver backup restore latest --from /backups -o ./restored\n  $ quiver backup restore /backups/full-1 -o ./restored --to-time 2025-01-31T12:00:00Z --wal-archive /archive --dry-run\n  $ quiver backup restore /backups/cluster-1 --cluster nats://10.0.0.5:4222 --to-time 2025-01-31T12:00:00Z',
    )
    .action(restoreAction);
}

/** `backup restore`: restores the chosen backup (to an LSN or time) and prints its steps. */
async function restoreAction(path: string, opts: RestoreOptions): Promise<void> {
  if (opts.toLsn !== undefined && opts.toTime !== undefined) {
    throw invalidArgument('give --to-lsn or --to-time, not both.');
  }
  const backupPath = await chooseBackup(path, opts.from);
  if (await isClusterBackup(new NodeFileSystem(), backupPath)) {
    if (opts.toLsn !== undefined || opts.walArchive.length > 0 || opts.dryRun === true) {
      throw invalidArgument(
        `${backupPath} is a cluster backup: it takes --to-time, not --to-lsn, --wal-archive or --dry-run (its shards have no common LSN).`,
      );
    }
    await clusterBackupRestore(backupPath, opts);
    return;
  }
  if (opts.output === undefined || opts.cluster !== undefined || opts.collection.length > 0) {
    throw invalidArgument(
      `${backupPath} is a database backup: restore it with -o DIR (--cluster and --collection are for cluster backups).`,
    );
  }
  const view = progressView(opts.json === true);
  const r = await restoreBackup(backupPath, opts.output, {
    ...(opts.toLsn === undefined ? {} : { toLsn: opts.toLsn }),
    ...(opts.toTime === undefined ? {} : { toTime: opts.toTime }),
    walArchives: opts.walArchive,
    force: opts.force === true,
    dryRun: opts.dryRun === true,
    progress: view.fn,
  });
  view.stop();
  if (opts.json === true) printJson(r);
  else {
    process.stdout.write(
      `${r.dryRun ? 'DRY RUN: would restore' : 'restored'} ${r.backup} into ${r.target} at LSN ${r.lsn} (${r.lsnSource})\n`,
    );
    for (const s of r.steps) process.stdout.write(`  - ${s}\n`);
    for (const p of r.verify?.problems ?? [])
      process.stdout.write(`${p.severity.toUpperCase()} ${p.file}: ${p.what}\n`);
  }
  if (r.verify !== undefined && r.verify.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
}
