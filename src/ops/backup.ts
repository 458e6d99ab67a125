/**
 * Backups: `createBackup` (online, full or incremental, optionally gzip-compressed),
 * `verifyBackup`, `listBackups`, `pruneBackups`, and the backup-manifest codec that
 * restore (ops/restore.ts) reads. docs/RUNBOOK.md "Backups" describes the procedure.
 *
 * A backup is a directory: `backup.json` (the backup manifest: every file with its SHA-256,
 * the LSN range, the base of an incremental) and `data/` (MANIFEST, segments/, wal/ as of
 * one LSN). It is taken from a pinned snapshot (ops/snapshot.ts), so it is consistent while
 * a writer runs. An incremental stores only files its base chain lacks: new segment and
 * tombstone files, and for each WAL file only the bytes after those its base holds.
 * `backup.json` is written last, atomically: a directory without it is an unfinished backup.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { isAbsolute, resolve } from 'node:path';
import { utf8Decode, utf8Encode } from '../common/bytes.js';
import { pathEscape } from '../common/contained-path.js';
import { corrupt, QuiverError } from '../common/quiver-error.js';
import { MANIFEST_FILE, SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import {
  jsonString,
  parentDir,
  prepareEmptyDir,
  sha256,
  writeFileAtomic,
  writeWholeFile,
} from './ops-files.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';
import type { PinnedSnapshot } from './snapshot.js';
import { pinSnapshot } from './snapshot.js';

/** Name of the backup manifest inside a backup directory. */
export const BACKUP_MANIFEST = 'backup.json';
/** Where a backup keeps the database files. */
export const BACKUP_DATA = 'data';
const FORMAT = 'quiver-backup';
const VERSION = 1;

/** How one database file is held by a backup. */
export interface BackupFile {
  /** Path inside the database directory: `MANIFEST`, `segments/…`, `wal/…`. */
  readonly path: string;
  /** Byte length of the file's content as restored. */
  readonly bytes: number;
  /** SHA-256 of the content as restored. */
  readonly sha256: string;
  /**
   * The stored file in this backup (under `data/`), or null when the content is wholly in
   * the base backup. `sha256` is that of the stored bytes (compressed when `compressed`).
   */
  readonly stored: {
    readonly file: string;
    readonly bytes: number;
    readonly sha256: string;
    readonly compressed: boolean;
  } | null;
  /** Incremental WAL: the first `baseBytes` of the content come from the base's same path. */
  readonly baseBytes: number;
}

/** The backup manifest (`backup.json`), documented in docs/RUNBOOK.md. */
export interface BackupManifest {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly id: string;
  readonly kind: 'full' | 'incremental';
  readonly createdAt: string;
  /** The database directory it was taken from (absolute). */
  readonly source: string;
  /** The base of an incremental: its id and absolute path. */
  readonly base: { readonly id: string; readonly path: string } | null;
  /**
   * LSNs: `min` is the earliest point this backup can be restored to (its manifest's
   * checkpoint), `max` the point it holds (every record up to it). `walStart` is where
   * replay starts.
   */
  readonly lsn: { readonly min: number; readonly max: number; readonly walStart: number };
  readonly manifestGeneration: number;
  readonly compressed: boolean;
  readonly collections: readonly string[];
  /** Time samples `[lsn, ms]`: every record up to lsn existed at ms (for --to-time). */
  readonly timeIndex: readonly (readonly [number, number])[];
  /** Bytes stored in this backup and bytes of the restored database files. */
  readonly storedBytes: number;
  readonly totalBytes: number;
  readonly files: readonly BackupFile[];
}

export interface CreateBackupOptions {
  readonly fileSystem?: FileSystem;
  /** Path of the base backup: store only what is new since it. */
  readonly base?: string;
  /** gzip every stored file. */
  readonly compress?: boolean;
  readonly progress?: ProgressFn;
}

/** What {@link createBackup} did. */
export interface BackupReport {
  readonly path: string;
  readonly id: string;
  readonly kind: 'full' | 'incremental';
  readonly base: string | null;
  readonly lsn: BackupManifest['lsn'];
  readonly files: number;
  readonly filesStored: number;
  readonly storedBytes: number;
  readonly totalBytes: number;
  readonly pinRetries: number;
  readonly duration_seconds: number;
}

/** A backup's id: its UTC time to the second, then 6 random hex digits (sorts by time). */
export function newBackupId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${t}-${Math.random().toString(16).slice(2, 8)}`;
}

/** Reads and checks `PATH/backup.json`. INVALID_ARGUMENT when PATH is not a backup. */
export async function readBackupManifest(fs: FileSystem, path: string): Promise<BackupManifest> {
  const file = `${path}/${BACKUP_MANIFEST}`;
  if (!(await fs.exists(file))) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${path} is not a Quiver backup (no ${BACKUP_MANIFEST}; an interrupted backup has none).`,
      { file },
    );
  }
  let m: BackupManifest;
  try {
    m = JSON.parse(utf8Decode(await fs.readFile(file))) as BackupManifest;
  } catch (e) {
    throw corrupt(file, 0, 'backup manifest is not valid JSON', e);
  }
  if (m.format !== FORMAT || !Array.isArray(m.files) || typeof m.lsn?.max !== 'number') {
    throw corrupt(file, 0, 'backup manifest lacks its format, files or LSN range');
  }
  if (m.version > VERSION) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${file} is backup format ${m.version}, newer than this Quiver reads (${VERSION}). Upgrade quiverdb.`,
      { file },
    );
  }
  m.files.forEach((entry, i) => checkEntryPaths(file, entry, i));
  return m;
}

/** A database file path as a backup may name it: MANIFEST, segments/NAME or wal/NAME. */
function isEntryPath(path: string): boolean {
  if (path === MANIFEST_FILE) return true;
  const slash = path.indexOf('/');
  const dir = path.slice(0, slash);
  const name = path.slice(slash + 1);
  return (dir === SEGMENT_DIR || dir === WAL_DIR) && name !== '' && !/[/\\]/.test(name);
}

/**
 * Refuses an entry whose database path or stored file would leave its directory: restore
 * writes `path` under its target and reads `stored.file` under the backup, so a name like
 * `segments/../../x` is damage or an attack, never something Quiver wrote.
 */
function checkEntryPaths(file: string, entry: unknown, index: number): void {
  const e = entry as Partial<BackupFile> | null;
  const path: unknown = e?.path;
  const stored: unknown = e?.stored?.file;
  const bad = (what: string): QuiverError =>
    corrupt(file, 0, `backup manifest entry ${index} (${JSON.stringify(path)}) ${what}`);
  if (typeof path !== 'string' || !isEntryPath(path)) {
    throw bad('is not MANIFEST, segments/NAME or wal/NAME');
  }
  const why = pathEscape('/database', path);
  if (why !== undefined) throw bad(`is refused as a path: ${why}`);
  if (e?.stored === null) return;
  if (typeof stored !== 'string' || !stored.startsWith(`${BACKUP_DATA}/`)) {
    throw bad(`stores its content outside ${BACKUP_DATA}/: ${JSON.stringify(stored)}`);
  }
  const storedWhy = pathEscape('/backup', stored);
  if (storedWhy !== undefined) throw bad(`has a stored file that is refused: ${storedWhy}`);
}

/** A backup and the bases it needs, newest first. */
export interface BackupChain {
  readonly paths: readonly string[];
  readonly manifests: readonly BackupManifest[];
}

/** Loads `path` and its base chain. Throws INVALID_ARGUMENT when a base is missing. */
export async function loadBackupChain(fs: FileSystem, path: string): Promise<BackupChain> {
  const paths: string[] = [];
  const manifests: BackupManifest[] = [];
  let at: string | undefined = path;
  while (at !== undefined) {
    const m = await readBackupManifest(fs, at);
    paths.push(at);
    manifests.push(m);
    if (m.base === null) break;
    let basePath = m.base.path;
    if (!(await fs.exists(`${basePath}/${BACKUP_MANIFEST}`))) {
      // The backups may have been moved together: look beside this one.
      const beside = `${parentDir(resolve(at))}/${m.base.path.slice(m.base.path.lastIndexOf('/') + 1)}`;
      if (await fs.exists(`${beside}/${BACKUP_MANIFEST}`)) basePath = beside;
    }
    const base = await readBackupManifest(fs, basePath).catch(() => undefined);
    if (base === undefined || base.id !== m.base.id) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `Backup ${at} is incremental on base ${m.base.id} at ${m.base.path}, which is missing or is another backup. Restore needs the whole chain.`,
        { file: `${at}/${BACKUP_MANIFEST}` },
      );
    }
    if (paths.length > 1000) throw corrupt(`${at}/${BACKUP_MANIFEST}`, 0, 'backup chain loops');
    at = basePath;
  }
  return { paths, manifests };
}

/**
 * The content of database file `path` as backup `index` of `chain` holds it, with every
 * hash checked. Throws CORRUPT naming the stored file on a mismatch.
 */
export async function readBackupFile(
  fs: FileSystem,
  chain: BackupChain,
  path: string,
  index = 0,
): Promise<Uint8Array> {
  const m = chain.manifests[index];
  const dir = chain.paths[index];
  const entry = m?.files.find((f) => f.path === path);
  if (m === undefined || dir === undefined || entry === undefined) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `The backup chain has no file ${path} (needed by ${chain.paths[0]}).`,
      { file: path },
    );
  }
  let content: Uint8Array;
  if (entry.stored === null) {
    content = await readBackupFile(fs, chain, path, index + 1);
  } else {
    const storedPath = `${dir}/${entry.stored.file}`;
    if (!(await fs.exists(storedPath))) {
      throw corrupt(storedPath, 0, 'backup file is missing');
    }
    const raw = await fs.readFile(storedPath);
    const rawHash = sha256(raw);
    if (raw.length !== entry.stored.bytes || rawHash !== entry.stored.sha256) {
      throw corrupt(storedPath, 0, 'backup file does not match its SHA-256 in backup.json');
    }
    let own: Uint8Array = raw;
    if (entry.stored.compressed) {
      try {
        own = new Uint8Array(gunzipSync(raw));
      } catch (e) {
        throw corrupt(storedPath, 0, 'backup file does not decompress', e);
      }
    }
    if (entry.baseBytes > 0) {
      const prefix = await readBackupFile(fs, chain, path, index + 1);
      if (prefix.length < entry.baseBytes) {
        throw corrupt(
          storedPath,
          0,
          `base holds ${prefix.length} bytes of ${path}, not ${entry.baseBytes}`,
        );
      }
      const joined = new Uint8Array(entry.baseBytes + own.length);
      joined.set(prefix.subarray(0, entry.baseBytes), 0);
      joined.set(own, entry.baseBytes);
      own = joined;
    }
    content = own;
    // Stored plain and whole: the content is the raw bytes just hashed.
    if (own === raw && entry.stored.sha256 === entry.sha256 && raw.length === entry.bytes) {
      return content;
    }
  }
  if (content.length !== entry.bytes || sha256(content) !== entry.sha256) {
    throw corrupt(
      entry.stored === null ? `${dir}/${BACKUP_MANIFEST}` : `${dir}/${entry.stored.file}`,
      0,
      `restored content of ${path} does not match its SHA-256 in backup.json`,
    );
  }
  return content;
}

/**
 * Backs up the database in `dir` into the new directory `out`, online: consistent at one
 * LSN while a writer runs (the files are pinned, never copied while they change).
 */
export async function createBackup(
  dir: string,
  out: string,
  options: CreateBackupOptions = {},
): Promise<BackupReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  const compress = options.compress === true;
  let chain: BackupChain | undefined;
  if (options.base !== undefined) chain = await loadBackupChain(fs, options.base);
  await prepareEmptyDir(fs, out, false, 'Backup target');
  const snap = await pinSnapshot(dir, { fileSystem: fs });
  try {
    const sources = snapshotSources(snap);
    let total = 0;
    for (const s of sources) total += await fs.fileSize(s.from);
    await fs.mkdirp(`${out}/${BACKUP_DATA}/${SEGMENT_DIR}`);
    await fs.mkdirp(`${out}/${BACKUP_DATA}/${WAL_DIR}`);
    const baseFiles = new Map<string, BackupFile>();
    if (chain !== undefined) for (const f of chain.manifests[0]!.files) baseFiles.set(f.path, f);
    const store = {
      fs,
      out,
      compress,
      baseFiles,
      total,
      progress: options.progress ?? NO_PROGRESS,
    };
    const stored = await storeFiles(store, sources);
    await fs.syncDir(`${out}/${BACKUP_DATA}/${SEGMENT_DIR}`);
    await fs.syncDir(`${out}/${BACKUP_DATA}/${WAL_DIR}`);
    await fs.syncDir(`${out}/${BACKUP_DATA}`);
    const manifest = backupManifestOf(dir, snap, chain, options.base, {
      compress,
      total,
      ...stored,
    });
    await writeFileAtomic(
      fs,
      `${out}/${BACKUP_MANIFEST}`,
      utf8Encode(JSON.stringify(manifest, null, 2)),
    );
    return {
      path: out,
      id: manifest.id,
      kind: manifest.kind,
      base: manifest.base?.path ?? null,
      lsn: manifest.lsn,
      files: stored.files.length,
      filesStored: stored.filesStored,
      storedBytes: stored.storedBytes,
      totalBytes: total,
      pinRetries: snap.retries,
      duration_seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    await fs.removeDir(out).catch(() => undefined);
    throw e;
  } finally {
    await snap.release();
  }
}

/** A snapshot file to back up: its path in the database and where the pin holds it. */
interface BackupSource {
  readonly path: string;
  readonly from: string;
}

/** MANIFEST, then the segment and tombstone files, then the WAL files of the snapshot. */
function snapshotSources(snap: PinnedSnapshot): BackupSource[] {
  const sources: BackupSource[] = [];
  if (snap.manifestBytes !== undefined) {
    sources.push({ path: MANIFEST_FILE, from: `${snap.dir}/${MANIFEST_FILE}` });
  }
  for (const name of snap.segmentFiles) {
    sources.push({ path: `${SEGMENT_DIR}/${name}`, from: `${snap.dir}/${SEGMENT_DIR}/${name}` });
  }
  for (const w of snap.walFiles) {
    sources.push({ path: `${WAL_DIR}/${w.name}`, from: `${snap.dir}/${WAL_DIR}/${w.name}` });
  }
  return sources;
}

/** Where and how {@link storeFiles} stores. */
interface FileStore {
  readonly fs: FileSystem;
  readonly out: string;
  readonly compress: boolean;
  /** The base backup's files by path (empty for a full backup). */
  readonly baseFiles: ReadonlyMap<string, BackupFile>;
  /** Bytes of all sources, for progress. */
  readonly total: number;
  readonly progress: ProgressFn;
}

interface StoredFiles {
  readonly files: BackupFile[];
  readonly storedBytes: number;
  readonly filesStored: number;
}

async function storeFiles(c: FileStore, sources: readonly BackupSource[]): Promise<StoredFiles> {
  const files: BackupFile[] = [];
  let storedBytes = 0;
  let done = 0;
  let filesStored = 0;
  for (const s of sources) {
    const file = await storeFile(c, s);
    if (file.stored !== null) {
      storedBytes += file.stored.bytes;
      filesStored++;
    }
    files.push(file);
    done += file.bytes;
    c.progress({ phase: 'backup', done, total: c.total, unit: 'bytes' });
  }
  return { files, storedBytes, filesStored };
}

/** Stores what the base chain lacks of one file (nothing, a WAL delta, or all of it). */
async function storeFile(c: FileStore, s: BackupSource): Promise<BackupFile> {
  const content = await c.fs.readFile(s.from);
  const hash = sha256(content);
  const { own, baseBytes, inBase } = baseShare(c.baseFiles.get(s.path), s.path, content, hash);
  let stored: BackupFile['stored'] = null;
  if (!inBase) {
    const data = c.compress ? new Uint8Array(gzipSync(own)) : own;
    const file = `${BACKUP_DATA}/${s.path}${c.compress ? '.gz' : ''}${baseBytes > 0 ? '.delta' : ''}`;
    await writeWholeFile(c.fs, `${c.out}/${file}`, data);
    // Stored bytes equal the content when neither compressed nor a delta: hash once.
    const storedHash = data === content ? hash : sha256(data);
    stored = { file, bytes: data.length, sha256: storedHash, compressed: c.compress };
  }
  return { path: s.path, bytes: content.length, sha256: hash, stored, baseBytes };
}

/**
 * How much of a file its base holds: all of it (same length and hash), or for a WAL file
 * that grew, the prefix of the base's length; `own` is what this backup must store.
 */
function baseShare(
  base: BackupFile | undefined,
  path: string,
  content: Uint8Array,
  hash: string,
): { own: Uint8Array; baseBytes: number; inBase: boolean } {
  if (base === undefined || path === MANIFEST_FILE) {
    return { own: content, baseBytes: 0, inBase: false };
  }
  if (base.bytes === content.length && base.sha256 === hash) {
    return { own: content, baseBytes: 0, inBase: true };
  }
  if (
    path.startsWith(`${WAL_DIR}/`) &&
    base.bytes < content.length &&
    sha256(content.subarray(0, base.bytes)) === base.sha256
  ) {
    return { own: content.subarray(base.bytes), baseBytes: base.bytes, inBase: false };
  }
  return { own: content, baseBytes: 0, inBase: false };
}

function backupManifestOf(
  dir: string,
  snap: PinnedSnapshot,
  chain: BackupChain | undefined,
  basePath: string | undefined,
  stored: StoredFiles & { compress: boolean; total: number },
): BackupManifest {
  const baseManifest = chain?.manifests[0];
  const m = snap.manifest;
  return {
    format: FORMAT,
    version: VERSION,
    id: newBackupId(),
    kind: chain === undefined ? 'full' : 'incremental',
    createdAt: new Date(snap.takenAtMs).toISOString(),
    source: resolve(dir),
    base:
      baseManifest === undefined
        ? null
        : {
            id: baseManifest.id,
            path: isAbsolute(basePath!) ? basePath! : resolve(basePath!),
          },
    lsn: { min: m.checkpointLsn, max: snap.lsn, walStart: m.walStartLsn },
    manifestGeneration: m.generation,
    compressed: stored.compress,
    collections: m.collections.map((c) => jsonString(c.config['name'])),
    timeIndex: [[snap.lsn, snap.takenAtMs]],
    storedBytes: stored.storedBytes,
    totalBytes: stored.total,
    files: stored.files,
  };
}

/** One problem {@link verifyBackup} found. */
export interface BackupProblem {
  readonly file: string;
  readonly what: string;
}

export interface BackupVerifyReport {
  readonly status: 'ok' | 'problems';
  readonly path: string;
  readonly id: string | undefined;
  readonly chain: readonly string[];
  readonly checked_files: number;
  readonly checked_bytes: number;
  readonly problems: readonly BackupProblem[];
  readonly duration_seconds: number;
}

/**
 * Re-hashes every stored file of the backup at `path` and of its base chain, and checks
 * that every file's restored content matches its SHA-256. Never throws for damage.
 */
export async function verifyBackup(
  path: string,
  options: { fileSystem?: FileSystem; progress?: ProgressFn } = {},
): Promise<BackupVerifyReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  const progress = options.progress ?? NO_PROGRESS;
  const problems: BackupProblem[] = [];
  let chain: BackupChain | undefined;
  let checkedFiles = 0;
  let checkedBytes = 0;
  try {
    chain = await loadBackupChain(fs, path);
  } catch (e) {
    problems.push({
      file:
        (e instanceof QuiverError && typeof e.details.file === 'string' && e.details.file) ||
        `${path}/${BACKUP_MANIFEST}`,
      what: e instanceof Error ? e.message : String(e),
    });
  }
  if (chain !== undefined) {
    const total = chain.manifests.reduce((n, m) => n + m.files.length, 0);
    for (let i = 0; i < chain.manifests.length; i++) {
      const m = chain.manifests[i]!;
      const dir = chain.paths[i]!;
      for (const f of m.files) {
        try {
          const content = await readBackupFile(fs, chain, f.path, i);
          checkedBytes += content.length;
        } catch (e) {
          const file =
            e instanceof QuiverError && typeof e.details.file === 'string'
              ? e.details.file
              : `${dir}/${f.stored?.file ?? BACKUP_MANIFEST}`;
          if (!problems.some((p) => p.file === file)) {
            problems.push({ file, what: e instanceof Error ? e.message : String(e) });
          }
        }
        checkedFiles++;
        progress({ phase: 'verify', done: checkedFiles, total, unit: 'files' });
      }
    }
  }
  return {
    status: problems.length === 0 ? 'ok' : 'problems',
    path,
    id: chain?.manifests[0]?.id,
    chain: chain?.paths ?? [],
    checked_files: checkedFiles,
    checked_bytes: checkedBytes,
    problems,
    duration_seconds: (performance.now() - t0) / 1000,
  };
}

/** A backup as listed by {@link listBackups}. */
export interface BackupListEntry {
  readonly path: string;
  readonly id: string | undefined;
  readonly kind: 'full' | 'incremental' | 'unfinished';
  readonly createdAt: string | undefined;
  readonly lsn: BackupManifest['lsn'] | undefined;
  readonly base: string | null;
  readonly storedBytes: number;
}

/** A directory that looks like a backup but has no readable manifest (an interrupted create). */
function unfinished(path: string, mtimeMs: number): BackupListEntry {
  return {
    path,
    id: undefined,
    kind: 'unfinished',
    createdAt: new Date(mtimeMs).toISOString(),
    lsn: undefined,
    base: null,
    storedBytes: 0,
  };
}

/** The backups in directory `dir` (each a subdirectory), oldest first. */
export async function listBackups(
  dir: string,
  options: { fileSystem?: FileSystem } = {},
): Promise<BackupListEntry[]> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  const out: BackupListEntry[] = [];
  for (const name of await fs.list(dir)) {
    const path = `${dir}/${name}`;
    const st = await fs.stat(path);
    if (st?.isDirectory !== true) continue;
    if (!(await fs.exists(`${path}/${BACKUP_MANIFEST}`))) {
      if ((await fs.exists(`${path}/${BACKUP_DATA}`)) || (await fs.list(path)).length === 0) {
        out.push(unfinished(path, st.mtimeMs));
      }
      continue;
    }
    try {
      const m = await readBackupManifest(fs, path);
      out.push({
        path,
        id: m.id,
        kind: m.kind,
        createdAt: m.createdAt,
        lsn: m.lsn,
        base: m.base?.id ?? null,
        storedBytes: m.storedBytes,
      });
    } catch {
      out.push(unfinished(path, st.mtimeMs));
    }
  }
  return out.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
}

export interface PruneOptions {
  readonly fileSystem?: FileSystem;
  /** Keep the newest N backups (and every base they need). */
  readonly keep?: number;
  /** Remove backups older than this many milliseconds (unless a kept one needs them). */
  readonly olderThanMs?: number;
  /** List what would go without removing anything. */
  readonly dryRun?: boolean;
  readonly now?: number;
}

export interface PruneReport {
  readonly removed: readonly string[];
  readonly kept: readonly string[];
  /** Kept only because a kept incremental needs them as its base. */
  readonly keptAsBase: readonly string[];
  readonly dryRun: boolean;
}

/**
 * Removes old backups from `dir`: beyond the newest `keep`, or older than `olderThanMs`.
 * Never removes a base that a kept incremental needs; leaves unfinished backups alone.
 */
export async function pruneBackups(dir: string, options: PruneOptions): Promise<PruneReport> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  if ((options.keep === undefined) === (options.olderThanMs === undefined)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      'prune needs exactly one of --keep N or --older-than AGE.',
    );
  }
  const all = (await listBackups(dir, { fileSystem: fs })).filter((b) => b.kind !== 'unfinished');
  const newestFirst = [...all].reverse();
  const now = options.now ?? Date.now();
  const keep = new Set<string>();
  newestFirst.forEach((b, i) => {
    const young =
      options.olderThanMs !== undefined &&
      now - Date.parse(b.createdAt ?? '') <= options.olderThanMs;
    if ((options.keep !== undefined && i < options.keep) || young) keep.add(b.path);
  });
  const byId = new Map(all.map((b) => [b.id, b]));
  const keptAsBase: string[] = [];
  const wanted = [...keep];
  while (wanted.length > 0) {
    const path = wanted.pop();
    const b = all.find((x) => x.path === path);
    const base = b?.base === null || b?.base === undefined ? undefined : byId.get(b.base);
    if (base !== undefined && !keep.has(base.path)) {
      keep.add(base.path);
      keptAsBase.push(base.path);
      wanted.push(base.path);
    }
  }
  const removed: string[] = [];
  for (const b of all) {
    if (keep.has(b.path)) continue;
    if (options.dryRun !== true) await fs.removeDir(b.path);
    removed.push(b.path);
  }
  return {
    removed,
    kept: all.filter((b) => keep.has(b.path)).map((b) => b.path),
    keptAsBase,
    dryRun: options.dryRun === true,
  };
}
