/**
 * Cluster backups (issue 13 item 8): a cut of every shard stream, copied out of the NATS
 * servers into a directory, its manifest and its verification. cluster-restore.ts puts a
 * backup back into a cluster or into a standalone directory.
 *
 * The cut is each shard stream's last sequence, all read (one after another) before any
 * message is copied, after `cutAt` and the list of collections: every write the cluster
 * acknowledged before `cutAt` is in the backup, with those acknowledged while the cut was
 * read, and nothing acknowledged after it. Shards are cut independently, as a write that
 * spans shards is applied independently (cluster-node.ts), so a batch racing the cut may
 * be in for some shards and not others. The backup is a directory: `cluster-backup.json`
 * (the collections' definitions and each shard's sequence range), written last and
 * atomically, and one shard archive per shard (shard-archive.ts). Each message keeps its
 * stored time, so a restore can stop at a point in time. Streams keep their whole history
 * (no limits), which lets a backup start at sequence 1; a stream someone purged is refused.
 */
import { QuiverError } from '../common/quiver-error.js';
import { containedPath } from '../common/contained-path.js';
import type { CreateCollectionOptions } from '../engine/validation.js';
import { newBackupId } from '../ops/backup.js';
import { prepareEmptyDir, writeFileAtomic } from '../ops/ops-files.js';
import type { ProgressFn } from '../ops/progress.js';
import { NO_PROGRESS } from '../ops/progress.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';
import { withCluster } from './cluster-connection.js';
import type { ClusterCollectionDef } from './cluster-meta.js';
import type { ArchivedMessage } from './shard-archive.js';
import { readShardArchive, ShardArchiveWriter } from './shard-archive.js';
import { decodeOpMessage, shardStreamState } from './shard-log.js';
import { readShardStream } from './shard-stream-reader.js';
import type { ShardRef } from './shard-routing.js';
import { idsOf, shardOf, streamName } from './shard-routing.js';

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
  /** Replicas per shard when the collection was placed on some nodes only, else null. */
  readonly replicationFactor: number | null;
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
    // The cut: its time, the collections, then every shard's end, before anything is copied.
    const cutAt = new Date().toISOString();
    const defs = chosen(await meta.collections(), options.collections);
    const custom = defs.find((d) => d.custom !== undefined);
    if (custom !== undefined) {
      // Its archives could not say which key each shard was, nor be checked by id hash.
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `"${custom.name}" uses custom sharding (shard keys), which cluster backups do not cover yet: leave it out with --collection, or back up a node's directory (quiver backup create DIR).`,
        { collection: custom.name },
      );
    }
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
      id: newBackupId(),
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
  m.collections.forEach((c) => checkCollectionEntry(file, path, c));
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
    for (const c of m.collections) {
      for (const s of c.shardArchives) {
        try {
          const list = readCheckedArchive(fs, path, c, s);
          while (!(await list.next()).done) {
            progress({ phase: 'verify', done: ++records, total, unit: 'records' });
          }
          files++;
          bytes += s.bytes;
        } catch (e) {
          problems.push({ file: s.file, what: e instanceof Error ? e.message : String(e) });
        }
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

/**
 * Reads the archive `s` of collection `c` in the backup at `path`, checking what a restore
 * relies on: its size, each record's checksum, sequences 1..`last` with none missing, and
 * that each record is a point operation of `c` whose ids all belong to that shard (a
 * message that is not would stop every node applying the restored shard). CORRUPT names
 * the archive.
 */
export async function* readCheckedArchive(
  fs: FileSystem,
  path: string,
  c: ClusterBackupCollection,
  s: ClusterBackupShard,
): AsyncGenerator<ArchivedMessage> {
  const file = containedPath(path, s.file, 'shard archive path');
  const size = await fs.fileSize(file);
  if (size !== s.bytes) throw wrong(file, `it is ${size} bytes, the manifest says ${s.bytes}`);
  let last = 0;
  for await (const r of readShardArchive(fs, file, s.shard)) {
    if (last === 0 && r.seq !== 1) throw wrong(file, `it starts at sequence ${r.seq}, not 1`);
    const op = decodeOpMessage(r.data, s.stream, r.seq);
    if (op.collection !== c.name) {
      throw wrong(file, `sequence ${r.seq} is an operation on "${op.collection}", not "${c.name}"`);
    }
    const stray = idsOf(op).find((id) => shardOf(id, c.shards) !== s.shard);
    if (stray !== undefined) {
      throw wrong(
        file,
        `sequence ${r.seq} touches point ${JSON.stringify(stray)} of another shard`,
      );
    }
    last = r.seq;
    yield r;
  }
  if (last !== s.last)
    throw wrong(file, `it ends at sequence ${last}, the manifest says ${s.last}`);
}

function wrong(file: string, what: string): QuiverError {
  return new QuiverError(
    'CORRUPT',
    `Shard archive ${file} does not hold what its backup says: ${what}.`,
    {
      file,
    },
  );
}

/**
 * Checks one collection entry of a manifest: a name, an integer shard count, and exactly one
 * archive per shard, each inside the backup with integer sequence range and size.
 */
function checkCollectionEntry(file: string, path: string, c: ClusterBackupCollection): void {
  const bad = (what: string): QuiverError =>
    new QuiverError('CORRUPT', `${file}: collection ${JSON.stringify(c.name)} ${what}.`, { file });
  if (typeof c.name !== 'string' || !isCount(c.shards) || c.shards < 1) {
    throw bad('lacks a name or an integer shard count');
  }
  const archives: unknown = c.shardArchives;
  if (!Array.isArray(archives) || archives.length !== c.shards) {
    throw bad(`must list ${c.shards} shard archives`);
  }
  const seen = new Set<number>();
  for (const s of c.shardArchives) {
    if (!isCount(s.shard) || s.shard >= c.shards || seen.has(s.shard)) {
      throw bad(`lists shard ${JSON.stringify(s.shard)} twice or out of range`);
    }
    if (
      !isCount(s.last) ||
      !isCount(s.bytes) ||
      typeof s.file !== 'string' ||
      typeof s.stream !== 'string'
    ) {
      throw bad(`has a bad entry for shard ${s.shard}`);
    }
    containedPath(path, s.file, 'shard archive path');
    seen.add(s.shard);
  }
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** The definitions `names` asks for (all when absent); COLLECTION_NOT_FOUND names a missing one. */
export function chosen<T extends { readonly name: string }>(
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
    replicationFactor: counts.length === 0 ? null : Math.max(...counts),
    createdAt: def.createdAt,
    shardArchives,
  };
}

function purged(ref: ShardRef, first: number): QuiverError {
  return new QuiverError(
    'INVALID_ARGUMENT',
    `Stream ${streamName(ref)} of collection "${ref.collection}" starts at sequence ${first}: its earlier messages were purged, so a backup cannot copy the shard whole. Back up a node's database directory instead (quiver backup create DIR).`,
    { collection: ref.collection },
  );
}
