/**
 * Restoring a cluster backup (cluster-backup.ts): into a cluster, by defining each
 * collection anew and publishing every shard's operations into its new stream in their
 * order, so the nodes apply them like any write; or into a new standalone directory, by
 * applying them there. `toTime` keeps each shard's operations up to the first one stored
 * after that time (a prefix: a state the shard really had).
 *
 * A restore into a cluster that stops part way (a crash, a lost connection) resumes: each
 * collection carries `restoring` (the backup and time) in its definition until the end,
 * and since a new stream holds a prefix of its archive, message n of the stream is record
 * n of the archive; running the same restore again publishes from the stream's end on.
 */
import { QuiverError } from '../common/quiver-error.js';
import { Quiver } from '../engine/quiver.js';
import { discardStaged, stageTarget, swapStaged } from '../ops/staged-target.js';
import type { ProgressFn } from '../ops/progress.js';
import { NO_PROGRESS } from '../ops/progress.js';
import type { VerifyReport } from '../ops/verify.js';
import { verifyDatabase } from '../ops/verify.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { ClusterBackupCollection, ClusterBackupManifest } from './cluster-backup.js';
import { chosen, readCheckedArchive, readClusterBackupManifest } from './cluster-backup.js';
import type { CollectionRequest } from './cluster-collections.js';
import { defineCollection, streamReplicas } from './cluster-collections.js';
import { withCluster } from './cluster-connection.js';
import type { ClusterCollectionDef, ClusterMeta } from './cluster-meta.js';
import { decodeOpMessage, publishOnce, publishOp, shardStreamState } from './shard-log.js';
import type { ArchivedMessage } from './shard-archive.js';
import type { ShardRef } from './shard-routing.js';
import type { JetStreamClient, JetStreamManager } from 'nats';

export interface ClusterRestoreOptions {
  readonly fileSystem: FileSystem;
  /** Only these collections (default: all in the backup). */
  readonly collections?: readonly string[];
  /** Replay each shard only up to its last operation stored at or before this time. */
  readonly toTime?: Date;
  readonly progress?: ProgressFn;
}

export interface ClusterRestoreReport {
  readonly target: string;
  readonly id: string;
  readonly collections: readonly {
    readonly name: string;
    readonly shards: number;
    /** Operations replayed (by this run and, when resumed, an earlier one). */
    readonly records: number;
    /** Operations left out by `toTime`. */
    readonly skipped: number;
    /** True when an earlier run of this restore had begun this collection. */
    readonly resumed: boolean;
  }[];
  /** Of a restore into a directory: verify of the result. */
  readonly verify: VerifyReport | undefined;
  readonly duration_seconds: number;
}

type CollectionOutcome = ClusterRestoreReport['collections'][number];

/**
 * Restores the backup at `path` into the cluster on `servers`. Every archive it will read
 * is checked first, and every collection is defined (or found begun by an earlier run of
 * the same restore) before any operation is published. COLLECTION_EXISTS for a collection
 * that exists there otherwise.
 */
export async function restoreClusterBackup(
  path: string,
  servers: readonly string[],
  options: ClusterRestoreOptions,
): Promise<ClusterRestoreReport> {
  const fs = options.fileSystem;
  const started = performance.now();
  const { m, wanted } = await openBackup(fs, path, options.collections);
  const restoring = { backup: m.id, toTime: options.toTime?.toISOString() ?? null };
  return withCluster(servers, async (meta, jsm, js) => {
    const targets: { c: ClusterBackupCollection; def: ClusterCollectionDef; resumed: boolean }[] =
      [];
    for (const c of wanted) {
      const existing = await meta.collection(c.name);
      if (existing !== undefined)
        targets.push({ c, def: resumable(existing, restoring), resumed: true });
    }
    const replicas = await streamReplicas(jsm);
    for (const c of wanted.filter((w) => !targets.some((t) => t.c === w))) {
      const def = await defineCollection(
        meta,
        jsm,
        replicas,
        { ...requestOf(c), restoring },
        async () => (await meta.nodes()).map((n) => n.id),
      );
      targets.push({ c, def, resumed: false });
    }
    const step = progressOf(wanted, options.progress);
    const out: CollectionOutcome[] = [];
    for (const { c, def, resumed } of targets) {
      let records = 0;
      let skipped = 0;
      for (const s of c.shardArchives) {
        const ref = { collection: def.name, uid: def.uid, shard: s.shard };
        const archive = upTo(readCheckedArchive(fs, path, c, s), options.toTime, (n) => {
          skipped += n;
        });
        const idOf = (seq: number): string => `restore-${m.id}-${def.uid}-${s.shard}-${seq}`;
        records += await publishArchive(js, jsm, ref, archive, idOf, () => step(c.name));
      }
      await finishRestoring(meta, def.name);
      out.push({ name: c.name, shards: c.shards, records, skipped, resumed });
    }
    return {
      target: servers.join(','),
      id: m.id,
      collections: out,
      verify: undefined,
      duration_seconds: (performance.now() - started) / 1000,
    };
  });
}

/** Publishes per shard kept in flight: enough to hide the quorum round trip. */
const WINDOW = 64;

/**
 * Publishes `archive` into the shard's new stream so that stream message n is archive
 * record n, skipping what a run cut short already published; returns the records in the
 * archive. Up to {@link WINDOW} publishes are in flight, each stored only if the stream
 * ends just before it, so none can land out of place; after a failure the stream's end
 * says which to send again (one by one, with publishOp's retries across an election). A
 * stream that ends elsewhere than the archive expects (someone wrote to the collection
 * during its restore) fails the restore with UNAVAILABLE naming "wrong last sequence".
 */
async function publishArchive(
  js: JetStreamClient,
  jsm: JetStreamManager,
  ref: ShardRef,
  archive: AsyncGenerator<ArchivedMessage>,
  idOf: (seq: number) => string,
  step: () => void,
): Promise<number> {
  const already = (await shardStreamState(jsm, ref)).last;
  let window: { readonly r: ArchivedMessage; readonly ack: Promise<number> }[] = [];
  const recover = async (): Promise<void> => {
    await Promise.allSettled(window.map((w) => w.ack));
    const end = (await shardStreamState(jsm, ref)).last;
    const rest = window.filter((w) => w.r.seq > end);
    window = [];
    for (const { r } of rest) await publishOp(js, ref, r.data, idOf(r.seq), r.seq - 1);
  };
  const advance = async (): Promise<void> => {
    try {
      await window[0]!.ack;
      window.shift();
    } catch {
      await recover();
    }
  };
  let records = 0;
  for await (const r of archive) {
    records++;
    step();
    if (r.seq <= already) continue; // stream message n is archive record n
    const ack = publishOnce(js, ref, r.data, idOf(r.seq), r.seq - 1, r.timeMs);
    ack.catch(() => undefined); // awaited in turn by advance()
    window.push({ r, ack });
    while (window.length >= WINDOW) await advance();
  }
  while (window.length > 0) await advance();
  return records;
}

/**
 * Restores the backup at `path` into the database directory `dir` (empty, or `force` to
 * replace it): each collection is created and every shard's operations applied in order,
 * in a staging directory swapped in at the end; verify runs on the result.
 */
export async function restoreClusterBackupLocally(
  path: string,
  dir: string,
  options: ClusterRestoreOptions & { readonly force?: boolean },
): Promise<ClusterRestoreReport> {
  const fs = options.fileSystem;
  const started = performance.now();
  const { m, wanted } = await openBackup(fs, path, options.collections);
  const staged = await stageTarget(fs, dir, options.force === true, true);
  try {
    const out = await applyLocally(fs, path, staged.stage, wanted, options);
    await swapStaged(fs, staged);
    const verify = await verifyDatabase(dir, { fileSystem: fs, online: false });
    return {
      target: dir,
      id: m.id,
      collections: out,
      verify,
      duration_seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    await discardStaged(fs, staged);
    throw e;
  }
}

/** Creates each collection in a new database at `stage` and applies its archives. */
async function applyLocally(
  fs: FileSystem,
  path: string,
  stage: string,
  wanted: readonly ClusterBackupCollection[],
  options: ClusterRestoreOptions,
): Promise<CollectionOutcome[]> {
  const step = progressOf(wanted, options.progress);
  const db = await Quiver.open(stage, { fileSystem: fs, autoCompact: false });
  const out: CollectionOutcome[] = [];
  try {
    for (const c of wanted) {
      const local = await db.createCollection(c.name, c.config);
      let records = 0;
      let skipped = 0;
      for (const s of c.shardArchives) {
        for await (const r of upTo(
          readCheckedArchive(fs, path, c, s),
          options.toTime,
          (n) => (skipped += n),
        )) {
          await local.applyOp(decodeOpMessage(r.data, s.stream, r.seq));
          records++;
          step(c.name);
        }
      }
      out.push({ name: c.name, shards: c.shards, records, skipped, resumed: false });
    }
  } finally {
    await db.close();
  }
  return out;
}

/**
 * The records of `archive` up to the first stored after `toTime` (all without one); the
 * rest are counted through `skip`. Stopping at the first keeps a prefix even if stored
 * times step back (a leader change between servers whose clocks differ).
 */
async function* upTo<T extends { readonly timeMs: number }>(
  archive: AsyncGenerator<T>,
  toTime: Date | undefined,
  skip: (n: number) => void,
): AsyncGenerator<T> {
  let stopped = false;
  for await (const r of archive) {
    if (!stopped && toTime !== undefined && r.timeMs > toTime.getTime()) stopped = true;
    if (stopped) skip(1);
    else yield r;
  }
}

/**
 * The definition of a collection found in the target: resumable only when an earlier run
 * of this very restore (same backup, same time) made it and did not finish.
 */
function resumable(
  def: ClusterCollectionDef,
  restoring: NonNullable<ClusterCollectionDef['restoring']>,
): ClusterCollectionDef {
  const r = def.restoring;
  if (r?.backup === restoring.backup && r.toTime === restoring.toTime) return def;
  const how =
    r === undefined
      ? 'a restore makes new collections. Drop it first, or restore the others with --collection'
      : `it is being restored from backup ${r.backup}${r.toTime === null ? '' : ` to ${r.toTime}`}: run that restore again to finish it, or drop the collection`;
  throw new QuiverError(
    'COLLECTION_EXISTS',
    `Collection "${def.name}" already exists in the cluster: ${how}.`,
    { collection: def.name },
  );
}

/** Clears `restoring` once every operation is published. */
async function finishRestoring(meta: ClusterMeta, name: string): Promise<void> {
  await meta.updateCollection(name, (def) => {
    if (def.restoring === undefined) return def;
    const rest = { ...def };
    delete rest.restoring;
    return rest;
  });
}

/**
 * The manifest of the backup at `path` and the collections a restore takes from it (`names`,
 * or all), every archive of those read and checked, so a damaged one stops it before any write.
 */
async function openBackup(
  fs: FileSystem,
  path: string,
  names: readonly string[] | undefined,
): Promise<{ m: ClusterBackupManifest; wanted: ClusterBackupCollection[] }> {
  const m = await readClusterBackupManifest(fs, path);
  const wanted = chosen(m.collections, names);
  await checkArchives(fs, path, wanted);
  return { m, wanted };
}

/** Reads every archive a restore will use, so a damaged one stops it before any write. */
async function checkArchives(
  fs: FileSystem,
  path: string,
  collections: readonly ClusterBackupCollection[],
): Promise<void> {
  for (const c of collections) {
    for (const s of c.shardArchives) {
      try {
        const records = readCheckedArchive(fs, path, c, s);
        while (!(await records.next()).done); // each record checked as it is read
      } catch (e) {
        throw new QuiverError(
          'CORRUPT',
          `Cluster backup ${path} is damaged, nothing was restored: ${e instanceof Error ? e.message : String(e)}`,
          { file: `${path}/${s.file}` },
          e,
        );
      }
    }
  }
}

function requestOf(c: ClusterBackupCollection): CollectionRequest {
  return {
    name: c.name,
    config: c.config,
    shards: c.shards,
    replicationFactor: c.replicationFactor ?? undefined,
  };
}

/** A progress step per archived operation, over all the chosen collections. */
function progressOf(
  collections: readonly ClusterBackupCollection[],
  progress: ProgressFn | undefined,
): (collection: string) => void {
  const report = progress ?? NO_PROGRESS;
  const total = collections.flatMap((c) => c.shardArchives).reduce((a, s) => a + s.last, 0);
  let done = 0;
  return (collection) =>
    report({ phase: 'restore', done: ++done, total, unit: 'records', detail: collection });
}
