/**
 * The FileSystem interface: the only way the storage layer touches disk (aesthetics
 * convention 10). Narrow on purpose so tests can wrap it to fail writes, fill the disk,
 * tear appends or forget unsynced bytes. Every error it raises names the path.
 */

/** An open file. Positions are absolute byte offsets. */
export interface FileHandle {
  readonly path: string;
  /** Reads up to `length` bytes at `position`; returns the bytes actually read. */
  read(position: number, length: number): Promise<Uint8Array>;
  /**
   * Fills `target` from `position` without yielding; returns the bytes read (fewer at the end
   * of the file). For the hot read path of on-disk vectors, where a search cannot wait for
   * the event loop (a block read from the page cache costs microseconds), and for the runs
   * of vectors an open streams from each segment file (a few hundred rows at a time).
   */
  readSync(position: number, target: Uint8Array): number;
  /** Writes all of `data` at `position`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Makes everything written so far durable (fdatasync). */
  sync(): Promise<void>;
  /** Cuts or extends the file to `size` bytes. */
  truncate(size: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** What {@link FileSystem.stat} returns. */
export interface FileStat {
  readonly size: number;
  /** Last modification, in ms since the epoch. */
  readonly mtimeMs: number;
  readonly isDirectory: boolean;
  /** A regular file (not a directory, FIFO, socket or device), after following links. */
  readonly isFile: boolean;
}

/** How {@link FileSystem.open} opens a file. */
export type OpenMode =
  /** read only; the file must exist */
  | 'read'
  /** read and write; created if missing */
  | 'readwrite'
  /** read and write; must not exist yet */
  | 'create-new';

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  /** Whole file; throws if missing. */
  readFile(path: string): Promise<Uint8Array>;
  /** Creates `path` with `data` only if it does not exist; false when it already exists. */
  createExclusive(path: string, data: Uint8Array): Promise<boolean>;
  exists(path: string): Promise<boolean>;
  /** Names (not paths) in a directory, sorted; empty when missing. */
  list(dir: string): Promise<string[]>;
  /**
   * Creates `dir` and any missing parents, durably: the parent of every directory it
   * creates is fsynced, so a new directory (and so everything later synced inside it)
   * survives a power loss.
   */
  mkdirp(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes a directory's entries (creates, renames, unlinks) durable. */
  syncDir(dir: string): Promise<void>;
  fileSize(path: string): Promise<number>;
  /** Size, modification time and kind of `path`; undefined when it does not exist. */
  stat(path: string): Promise<FileStat | undefined>;
  /**
   * The canonical absolute path of `path`, every symbolic link resolved: how a walk checks
   * that an entry stays inside its root. Throws if it does not exist.
   */
  realpath(path: string): Promise<string>;
  /**
   * Makes `newPath` a hard link to `existing` (same file, second name). Backups pin files
   * this way: the file survives a later unlink of `existing`. Fails if `newPath` exists.
   */
  link(existing: string, newPath: string): Promise<void>;
  /** Copies `from` to `to` (replacing it) and fsyncs the copy. */
  copyFile(from: string, to: string): Promise<void>;
  /** Removes a directory and everything in it; nothing when it is missing. */
  removeDir(dir: string): Promise<void>;
  /** Named failpoint hook: inert unless a test arms it (see failpoints.ts). */
  failpoint(name: FailpointName): Promise<void>;
}

/** The named places where tests can inject a crash or an error. */
export type FailpointName =
  | 'afterWalAppendBeforeFsync'
  | 'afterWalFsync'
  | 'beforeCleanMarkWrite'
  | 'beforeManifestRename'
  | 'afterManifestRename'
  | 'midSegmentWrite'
  | 'beforeWalRelease'
  /** Open: the WAL was replayed into memory, nothing of the open written yet. */
  | 'afterRecoveryReplay'
  /** Open: a torn WAL tail was cut off and synced, the writer not yet running. */
  | 'afterTornTailTruncate'
  /** WAL archiving: the copy is in the archive's temp file, not yet renamed into place. */
  | 'midWalArchive'
  /** WAL release: the file is archived, the original not yet unlinked. */
  | 'afterWalArchive'
  /** Collection swap: the staging collection is sealed, the SWAP record not yet logged. */
  | 'beforeCollectionSwap'
  /** Collection swap: the SWAP record is durable, the manifest not yet switched. */
  | 'afterCollectionSwap';
