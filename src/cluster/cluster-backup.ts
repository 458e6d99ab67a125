/**
 * Cluster backups (issue 13 item 8): a consistent cut of every shard stream, copied out of
 * the NATS servers, and its restore into a new cluster (by publishing the same operations
 * into new streams) or into a standalone database directory (by applying them).
 *
 * The cut is each shard stream's last sequence, all read before any message is copied:
 * every write the cluster acknowledged before the backup started is in it, and what came
 * later is not. Shards are cut independently, like a write that spans shards is applied
 * independently (cluster-node.ts), so a batch racing the start may be in for some shards
 * and not others. The backup is a directory: `cluster-backup.json` (the collections'
 * definitions and each shard's sequence range), written last and atomically, and one
 * shard archive per shard (shard-archive.ts). Each message keeps its stored time, so a
 * restore can stop at a point in time. Streams keep their whole history (no limits), which
 * is what lets a backup start at sequence 1; a stream someone purged is refused, by name.
 */
import { QuiverError } from '../common/quiver-error.js';
import { containedPath } from '../common/contained-path.js';
import type { Collection } from '../engine/collection.js';
import { Quiver } from '../engine/quiver.js';
import type { CreateCollectionOptions } from '../engine/validation.js';
import { prepareEmptyDir, writeFileAtomic } from '../ops/ops-files.js';
import type { ProgressFn } from '../ops/progress.js';
import { NO_PROGRESS } from '../ops/progress.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';
import { defineCollection, streamReplicas } from './cluster-collections.js';
import { withCluster } from './cluster-connection.js';
import type { ClusterCollectionDef } from './cluster-meta.js';
import { readShardArchive, ShardArchiveWriter } from './shard-archive.js';
import { decodeOpMessage, publishOp, shardStreamState } from './shard-log.js';
import { readShardStream } from './shard-stream-reader.js';
import type { ShardRef } from './shard-routing.js';
import { streamName } from './shard-routing.js';

export const CLUSTER_BACKUP_MANIFEST = 'cluster-backup.json';
const FORMAT = 'quiver-cluster-backup';
const VERSION = 1;

export interface ClusterBackupShard {
  readonly shard: number;
  /** The archive, relative to the backup directory. */
  readonly file: string;
  /** The stream it was copied from. */
  readonly stream: string;
  /** Sequences held: 1..last (0: the shard was empty). */
  readonly last: number;
  readonly bytes: number;
  /** When the stream stored its last message (ms since the epoch), if any. */
  readonly lastTimeMs: number | undefined;
}

export interface ClusterBackupCollection {
  readonly name: string;
  readonly config: CreateCollectionOptions;
  readonly shards: number;
  /** Replicas per shard when the collection was placed on some nodes only. */
  readonly replicationFactor: number | undefined;
  readonly createdAt: string;
  readonly shardArchives: readonly ClusterBackupShard[];
}

export interface ClusterBackupManifest {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly id: string;
  /** When the cut was taken: writes acknowledged before it are in the backup. */
  readonly cutAt: string;
  /** When the last archive was written. */
  readonly createdAt: string;
  readonly collections: readonly ClusterBackupCollection[];
}

export interface ClusterBackupReport {
  readonly path: string;
  readonly id: string;
  readonly cutAt: string;
  readonly collections: number;
  readonly shards: number;
  readonly records: number;
  readonly bytes: number;
  readonly duration_seconds: number;
}

export interface ClusterBackupOptions {
  readonly fileSystem: FileSystem;
  /** Only these collections (default: all). */
  readonly collections?: readonly string[];
  readonly progress?: ProgressFn;
}

/** Copies a consistent cut of the cluster on `servers` into the new directory `out`. */
export async function createClusterBackup(
  servers: readonly string[],
  out: string,
  options: ClusterBackupOptions,
): Promise<ClusterBackupReport> {
  const fs = options.fileSystem;
  const progress = options.progress ?? NO_PROGRESS;
  const started = performance.now();
  return withCluster(servers, async (meta, jsm, js) => {
    const defs = chosen(await meta.collections(), options.collections);
    // The cut: every shard's end, read before anything is copied.
    const cutAt = new Date().toISOString();
    const cuts = new Map<string, number>();
    for (const def of defs) {
      for (let shard = 0; shard < def.shards; shard++) {
        const ref = refOf(def, shard);
        const state = await shardStreamState(jsm, ref);
        if (state.first > 1) throw purged(ref, state.first);
        cuts.set(streamName(ref), state.last);
      }
    }
    const total = [...cuts.values()].reduce((a, b) => a + b, 0);
    await prepareEmptyDir(fs, out, false, 'cluster backup target');
    let done = 0;
    const collections: ClusterBackupCollection[] = [];
    for (const def of defs) {
      const archives: ClusterBackupShard[] = [];
      await fs.mkdirp(containedPath(out, `collections/${def.name}`, 'collection name'));
      for (let shard = 0; shard < def.shards; shard++) {
        const ref = refOf(def, shard);
        const file = archiveFile(def.name, shard);
        const last = cuts.get(streamName(ref)) ?? 0;
        let lastTimeMs: number | undefined;
        let bytes = 0;
        await replaceAtomically(fs, containedPath(out, file, 'collection name'), async (h) => {
          const w = await ShardArchiveWriter.start(h, shard);
          for await (const m of readShardStream(js, jsm, ref, 1, last)) {
            await w.append(m);
            lastTimeMs = m.timeMs;
            progress({ phase: 'copy', done: ++done, total, unit: 'records', detail: def.name });
          }
          bytes = await w.finish();
        });
        archives.push({ shard, file, stream: streamName(ref), last, bytes, lastTimeMs });
      }
      collections.push(describe(def, archives));
    }
    const manifest: ClusterBackupManifest = {
      format: FORMAT,
      version: VERSION,
      id: backupId(),
      cutAt,
      createdAt: new Date().toISOString(),
      collections,
    };
    await writeFileAtomic(
      fs,
      `${out}/${CLUSTER_BACKUP_MANIFEST}`,
      new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
    );
    return {
      path: out,
      id: manifest.id,
      cutAt,
      collections: collections.length,
      shards: cuts.size,
      records: total,
      bytes: collections.flatMap((c) => c.shardArchives).reduce((a, s) => a + s.bytes, 0),
      duration_seconds: (performance.now() - started) / 1000,
    };
  });
}

/** True when `path` holds a cluster backup (its manifest). */
export async function isClusterBackup(fs: FileSystem, path: string): Promise<boolean> {
  return fs.exists(`${path}/${CLUSTER_BACKUP_MANIFEST}`);
}

/** Reads and checks `PATH/cluster-backup.json`. */
export async function readClusterBackupManifest(
  fs: FileSystem,
  path: string,
): Promise<ClusterBackupManifest> {
  const file = `${path}/${CLUSTER_BACKUP_MANIFEST}`;
  if (!(await fs.exists(file))) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${path} is not a cluster backup (no ${CLUSTER_BACKUP_MANIFEST}; an interrupted backup has none).`,
      { file },
    );
  }
  let m: ClusterBackupManifest;
  try {
    m = JSON.parse(new TextDecoder().decode(await fs.readFile(file))) as ClusterBackupManifest;
  } catch (e) {
    throw new QuiverError('CORRUPT', `${file} is not valid JSON.`, { file, offset: 0 }, e);
  }
  const collections: unknown = m.collections; // JSON: not yet known to be an array
  if (m.format !== FORMAT || !Array.isArray(collections)) {
    throw new QuiverError('CORRUPT', `${file} lacks its format or collections.`, { file });
  }
  if (m.version > VERSION) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${file} is cluster backup format ${m.version}, newer than this Quiver reads (${VERSION}). Upgrade quiverdb.`,
      { file },
    );
  }
  for (const c of m.collections) {
    for (const s of c.shardArchives) containedPath(path, s.file, 'shard archive path');
  }
  return m;
}

/** One problem {@link verifyClusterBackup} found. */
export interface ClusterBackupProblem {
  readonly file: string;
  readonly what: string;
}

export interface ClusterBackupVerifyReport {
  readonly status: 'ok' | 'problems';
  readonly path: string;
  readonly id: string | undefined;
  readonly checked_files: number;
  readonly checked_bytes: number;
  readonly records: number;
  readonly problems: readonly ClusterBackupProblem[];
  readonly duration_seconds: number;
}

/**
 * Reads every archive of the cluster backup at `path`: each record's checksum and
 * sequence, and that each archive holds exactly the range and bytes its manifest says.
 * Never throws for damage: it is listed.
 */
export async function verifyClusterBackup(
  fs: FileSystem,
  path: string,
  progress: ProgressFn = NO_PROGRESS,
): Promise<ClusterBackupVerifyReport> {
  const started = performance.now();
  const problems: ClusterBackupProblem[] = [];
  let files = 0;
  let bytes = 0;
  let records = 0;
  let id: string | undefined;
  try {
    const m = await readClusterBackupManifest(fs, path);
    id = m.id;
    const total = m.collections.flatMap((c) => c.shardArchives).reduce((a, s) => a + s.last, 0);
    for (const s of m.collections.flatMap((c) => c.shardArchives)) {
      const file = containedPath(path, s.file, 'shard archive path');
      try {
        const size = await fs.fileSize(file);
        if (size !== s.bytes) throw new Error(`${size} bytes, the manifest says ${s.bytes}`);
        let last = 0;
        for await (const r of readShardArchive(fs, file, s.shard)) {
          last = r.seq;
          records++;
          progress({ phase: 'verify', done: records, total, unit: 'records' });
        }
        if (last !== s.last) throw new Error(`it ends at sequence ${last}, not ${s.last}`);
        files++;
        bytes += size;
      } catch (e) {
        problems.push({ file: s.file, what: e instanceof Error ? e.message : String(e) });
      }
    }
  } catch (e) {
    problems.push({
      file: CLUSTER_BACKUP_MANIFEST,
      what: e instanceof Error ? e.message : String(e),
    });
  }
  return {
    status: problems.length === 0 ? 'ok' : 'problems',
    path,
    id,
    checked_files: files,
    checked_bytes: bytes,
    records,
    problems,
    duration_seconds: (performance.now() - started) / 1000,
  };
}

export interface ClusterRestoreOptions {
  readonly fileSystem: FileSystem;
  /** Only these collections (default: all in the backup). */
  readonly collections?: readonly string[];
  /** Replay only operations the old cluster stored at or before this time. */
  readonly toTime?: Date;
  readonly progress?: ProgressFn;
}

export interface ClusterRestoreReport {
  readonly target: string;
  readonly id: string;
  readonly collections: readonly {
    readonly name: string;
    readonly shards: number;
    /** Operations replayed. */
    readonly records: number;
    /** Operations left out by --to-time. */
    readonly skipped: number;
  }[];
  readonly duration_seconds: number;
}

/**
 * Restores the backup at `path` into the cluster on `servers`: each collection is defined
 * anew (new streams; its placement over the nodes up now when it had a replication
 * factor) and every shard's operations are published into its new stream in their order,
 * so the nodes apply them like any write. COLLECTION_EXISTS, before anything is written,
 * when a collection of the backup already exists there.
 */
export async function restoreClusterBackup(
  path: string,
  servers: readonly string[],
  options: ClusterRestoreOptions,
): Promise<ClusterRestoreReport> {
  const fs = options.fileSystem;
  const started = performance.now();
  const m = await readClusterBackupManifest(fs, path);
  const chosenOnes = chosen(m.collections, options.collections);
  await checkArchives(fs, path, chosenOnes);
  return withCluster(servers, async (meta, jsm, js) => {
    for (const c of chosenOnes) {
      if ((await meta.collection(c.name)) !== undefined) {
        throw new QuiverError(
          'COLLECTION_EXISTS',
          `Collection "${c.name}" already exists in the cluster on ${servers.join(',')}: a restore makes new collections. Drop it first, or restore the others with --collection.`,
          { collection: c.name },
        );
      }
    }
    const replicas = await streamReplicas(jsm);
    const progress = progressOf(chosenOnes, options.progress);
    const out: ClusterRestoreReport['collections'][number][] = [];
    for (const c of chosenOnes) {
      const def = await defineCollection(meta, jsm, replicas, requestOf(c), async () =>
        (await meta.nodes()).map((n) => n.id),
      );
      let records = 0;
      let skipped = 0;
      for (const s of c.shardArchives) {
        const ref = refOf(def, s.shard);
        const file = containedPath(path, s.file, 'shard archive path');
        for await (const r of readShardArchive(fs, file, s.shard)) {
          if (options.toTime !== undefined && r.timeMs > options.toTime.getTime()) {
            skipped++;
          } else {
            // The id makes a publish retried after a lost ack land once (JetStream's window).
            await publishOp(js, ref, r.data, `restore-${m.id}-${def.uid}-${s.shard}-${r.seq}`);
            records++;
          }
          progress(c.name);
        }
      }
      out.push({ name: c.name, shards: c.shards, records, skipped });
    }
    return {
      target: servers.join(','),
      id: m.id,
      collections: out,
      duration_seconds: (performance.now() - started) / 1000,
    };
  });
}

/**
 * Restores the backup at `path` into a new standalone database at `dir` (to inspect a
 * cluster's data on one machine, or to leave cluster mode): each collection is created
 * there and every shard's operations are applied in order.
 */
export async function restoreClusterBackupLocally(
  path: string,
  dir: string,
  options: ClusterRestoreOptions & { readonly force?: boolean },
): Promise<ClusterRestoreReport> {
  const fs = options.fileSystem;
  const started = performance.now();
  const m = await readClusterBackupManifest(fs, path);
  const chosenOnes = chosen(m.collections, options.collections);
  await checkArchives(fs, path, chosenOnes);
  await prepareEmptyDir(fs, dir, options.force === true, 'restore target');
  const progress = progressOf(chosenOnes, options.progress);
  const db = await Quiver.open(dir, { fileSystem: fs });
  const out: ClusterRestoreReport['collections'][number][] = [];
  try {
    for (const c of chosenOnes) {
      const local = await db.createCollection(c.name, c.config);
      const counts = await applyArchives(fs, path, c, local, options.toTime, () =>
        progress(c.name),
      );
      out.push({ name: c.name, shards: c.shards, ...counts });
    }
  } finally {
    await db.close();
  }
  return {
    target: dir,
    id: m.id,
    collections: out,
    duration_seconds: (performance.now() - started) / 1000,
  };
}

/** Applies every shard archive of `c` to `local`, in each shard's order. */
async function applyArchives(
  fs: FileSystem,
  path: string,
  c: ClusterBackupCollection,
  local: Collection,
  toTime: Date | undefined,
  step: () => void,
): Promise<{ records: number; skipped: number }> {
  let records = 0;
  let skipped = 0;
  for (const s of c.shardArchives) {
    const file = containedPath(path, s.file, 'shard archive path');
    for await (const r of readShardArchive(fs, file, s.shard)) {
      if (toTime !== undefined && r.timeMs > toTime.getTime()) skipped++;
      else {
        await local.applyOp(decodeOpMessage(r.data, s.stream, r.seq));
        records++;
      }
      step();
    }
  }
  return { records, skipped };
}

/** Verifies the archives a restore will read, so a damaged one stops it before any write. */
async function checkArchives(
  fs: FileSystem,
  path: string,
  collections: readonly ClusterBackupCollection[],
): Promise<void> {
  const report = await verifyClusterBackup(fs, path);
  const names = new Set(collections.flatMap((c) => c.shardArchives.map((s) => s.file)));
  const bad = report.problems.filter(
    (p) => names.has(p.file) || p.file === CLUSTER_BACKUP_MANIFEST,
  );
  if (bad.length > 0) {
    throw new QuiverError(
      'CORRUPT',
      `Cluster backup ${path} is damaged, nothing was restored: ${bad.map((p) => `${p.file}: ${p.what}`).join('; ')}.`,
      { file: `${path}/${bad[0]!.file}` },
    );
  }
}

/** The definitions `names` asks for (all when absent); COLLECTION_NOT_FOUND names a missing one. */
function chosen<T extends { readonly name: string }>(
  all: readonly T[],
  names: readonly string[] | undefined,
): T[] {
  if (names === undefined || names.length === 0) return [...all];
  return names.map((name) => {
    const found = all.find((c) => c.name === name);
    if (found === undefined) {
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Collection "${name}" is not there; there are: ${all.map((c) => c.name).join(', ') || 'none'}.`,
        { collection: name },
      );
    }
    return found;
  });
}

function refOf(def: ClusterCollectionDef, shard: number): ShardRef {
  return { collection: def.name, uid: def.uid, shard };
}

function archiveFile(collection: string, shard: number): string {
  return `collections/${collection}/shard-${shard}.qshard`;
}

function describe(
  def: ClusterCollectionDef,
  shardArchives: ClusterBackupShard[],
): ClusterBackupCollection {
  const counts = Object.values(def.placement ?? {}).map((r) => r.length);
  return {
    name: def.name,
    config: def.config,
    shards: def.shards,
    replicationFactor: counts.length === 0 ? undefined : Math.max(...counts),
    createdAt: def.createdAt,
    shardArchives,
  };
}

function requestOf(c: ClusterBackupCollection): Parameters<typeof defineCollection>[3] {
  return {
    name: c.name,
    config: c.config,
    shards: c.shards,
    replicationFactor: c.replicationFactor,
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

function purged(ref: ShardRef, first: number): QuiverError {
  return new QuiverError(
    'UNAVAILABLE',
    `Stream ${streamName(ref)} of collection "${ref.collection}" starts at sequence ${first}: its earlier messages were purged, so a backup cannot copy the shard whole. Back up a node's database directory instead (quiver backup create DIR).`,
    { collection: ref.collection },
  );
}

function backupId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${t}-${Math.random().toString(16).slice(2, 8)}`;
}
