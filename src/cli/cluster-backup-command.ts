/**
 * The cluster side of `quiver backup`: `create --cluster URLS`, `verify` and `restore` of a
 * cluster backup (cluster/cluster-backup.ts), into a cluster (`--cluster`) or a standalone
 * directory (`-o`). backup-command.ts parses the options and hands cluster work here.
 */
import type { ClusterBackupVerifyReport } from '../cluster/cluster-backup.js';
import { createClusterBackup, verifyClusterBackup } from '../cluster/cluster-backup.js';
import type { ClusterRestoreReport } from '../cluster/cluster-restore.js';
import { restoreClusterBackup, restoreClusterBackupLocally } from '../cluster/cluster-restore.js';
import { invalidArgument } from '../common/quiver-error.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { EXIT, formatBytes, printJson, progressView } from './cli-support.js';
import { serversOf } from './cluster-command.js';

/** The URLs of `--cluster a,b,c`; INVALID_ARGUMENT when none is given. */
export function clusterServers(list: string): string[] {
  const servers = serversOf(list);
  if (servers.length === 0) {
    throw invalidArgument('--cluster needs the NATS servers, e.g. nats://127.0.0.1:4222.');
  }
  return servers;
}

export interface ClusterBackupCliOptions {
  readonly output: string;
  readonly collection: readonly string[];
  readonly verify?: boolean;
  readonly json?: boolean;
}

/** `backup create --cluster`: copies the cut, verifies when asked, prints the report. */
export async function clusterBackupCreate(
  servers: readonly string[],
  opts: ClusterBackupCliOptions,
): Promise<void> {
  const fs = new NodeFileSystem();
  const view = progressView(opts.json === true);
  const r = await createClusterBackup(servers, opts.output, {
    fileSystem: fs,
    collections: opts.collection,
    progress: view.fn,
  });
  view.stop();
  const verified = opts.verify === true ? await verifyWithView(r.path, opts.json) : undefined;
  if (verified !== undefined && verified.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
  if (opts.json === true) {
    printJson(verified === undefined ? r : { ...r, verify: verified });
    return;
  }
  process.stdout.write(
    `cluster backup ${r.id} (cut at ${r.cutAt}) written to ${r.path}: ${r.collections} collection(s), ${r.shards} shard(s), ${r.records} operations, ${formatBytes(r.bytes)}, ${r.duration_seconds.toFixed(2)} s\n`,
  );
  if (verified !== undefined) printClusterVerify(verified);
}

/** `backup verify` of a cluster backup. */
export async function clusterBackupVerify(path: string, json: boolean | undefined): Promise<void> {
  const r = await verifyWithView(path, json);
  if (json === true) printJson(r);
  else printClusterVerify(r);
  if (r.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
}

export interface ClusterRestoreCliOptions {
  readonly output?: string;
  readonly cluster?: string;
  readonly collection: readonly string[];
  readonly toTime?: Date;
  readonly force?: boolean;
  readonly json?: boolean;
}

/** `backup restore` of a cluster backup: into the cluster at --cluster, or the directory -o. */
export async function clusterBackupRestore(
  path: string,
  opts: ClusterRestoreCliOptions,
): Promise<void> {
  if ((opts.output === undefined) === (opts.cluster === undefined)) {
    throw invalidArgument(
      `${path} is a cluster backup: restore it into a cluster with --cluster URLS, or into a standalone directory with -o DIR (one of the two).`,
    );
  }
  if (opts.cluster !== undefined && opts.force === true) {
    throw invalidArgument(
      '--force replaces a directory; a restore into a cluster never replaces a collection (drop it first).',
    );
  }
  const fs = new NodeFileSystem();
  const view = progressView(opts.json === true);
  const common = {
    fileSystem: fs,
    collections: opts.collection,
    progress: view.fn,
    ...(opts.toTime === undefined ? {} : { toTime: opts.toTime }),
  };
  const r: ClusterRestoreReport =
    opts.output === undefined
      ? await restoreClusterBackup(path, clusterServers(opts.cluster ?? ''), common)
      : await restoreClusterBackupLocally(path, opts.output, {
          ...common,
          force: opts.force === true,
        });
  view.stop();
  if (opts.json === true) {
    printJson(r);
    return;
  }
  process.stdout.write(`restored cluster backup ${r.id} into ${r.target}:\n`);
  for (const c of r.collections) {
    process.stdout.write(
      `  - ${c.name}: ${c.shards} shard(s), ${c.records} operations replayed${c.resumed ? ' (resumed)' : ''}${c.skipped > 0 ? `, ${c.skipped} after --to-time left out` : ''}\n`,
    );
  }
  if (r.verify !== undefined) {
    process.stdout.write(
      `verify: ${r.verify.status} (${r.verify.errors} errors, ${r.verify.warnings} warnings)\n`,
    );
    if (r.verify.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
  }
  if (opts.cluster !== undefined) {
    process.stdout.write(
      'The nodes apply the operations as they read the new streams: quiver cluster status shows their lag.\n',
    );
  }
}

async function verifyWithView(
  path: string,
  json: boolean | undefined,
): Promise<ClusterBackupVerifyReport> {
  const view = progressView(json === true);
  const r = await verifyClusterBackup(new NodeFileSystem(), path, view.fn);
  view.stop();
  return r;
}

function printClusterVerify(r: ClusterBackupVerifyReport): void {
  process.stdout.write(
    `${r.status === 'ok' ? 'OK' : 'PROBLEMS'}: ${r.checked_files} shard archives, ${r.records} operations, ${formatBytes(r.checked_bytes)} checked\n`,
  );
  for (const p of r.problems) process.stdout.write(`BAD ${p.file}: ${p.what}\n`);
}
