/**
 * The checkpoint of a sync run, `<database>/sync/<collection>.checkpoint.json`: replaced
 * atomically after every batch, it says how far the last run got and what it cost. The
 * collection itself is the truth about what is embedded (sync.ts), so a damaged checkpoint
 * is reported and ignored, never trusted.
 */
import { checkCollectionName } from '../engine/validation.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';

export interface SyncCheckpoint {
  readonly version: 1;
  readonly collection: string;
  readonly source: string;
  readonly embedder: {
    readonly provider: string;
    readonly model: string;
    readonly dimension?: number;
  };
  /** How the source was read, so that `quiver doctor` plans it the same way. */
  readonly chunk: { readonly maxTokens: number; readonly overlapTokens: number };
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly maxFileBytes?: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** True once the run finished (deletes included); false while it runs or if it stopped. */
  readonly complete: boolean;
  readonly filesDone: number;
  readonly chunksEmbedded: number;
  readonly tokens: number;
  readonly cost: number;
}

/** The checkpoint file of `collection` in the database at `dbPath`. */
export function checkpointPath(dbPath: string, collection: string): string {
  checkCollectionName(collection); // the name becomes a file name: never a path out
  return `${dbPath}/sync/${collection}.checkpoint.json`;
}

/** What the previous run left: none, complete, interrupted, or damaged (unreadable JSON). */
export async function readCheckpoint(
  fs: FileSystem,
  dbPath: string,
  collection: string,
): Promise<'none' | 'complete' | 'interrupted' | 'damaged'> {
  const c = await loadCheckpoint(fs, dbPath, collection);
  if (c === 'none' || c === 'damaged') return c;
  return c.complete ? 'complete' : 'interrupted';
}

/** The checkpoint itself, `none` when there is none, `damaged` when it cannot be read. */
export async function loadCheckpoint(
  fs: FileSystem,
  dbPath: string,
  collection: string,
): Promise<SyncCheckpoint | 'none' | 'damaged'> {
  const path = checkpointPath(dbPath, collection);
  if (!(await fs.exists(path))) return 'none';
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(await fs.readFile(path));
    const c = JSON.parse(text) as Partial<SyncCheckpoint>;
    const chunk = c.chunk;
    const valid =
      c.version === 1 &&
      typeof c.complete === 'boolean' &&
      typeof c.source === 'string' &&
      typeof chunk?.maxTokens === 'number' &&
      typeof chunk.overlapTokens === 'number';
    return valid ? (c as SyncCheckpoint) : 'damaged';
  } catch {
    return 'damaged';
  }
}

/** Replaces the checkpoint (temp file, fsync, rename). */
export async function writeCheckpoint(
  fs: FileSystem,
  dbPath: string,
  c: SyncCheckpoint,
): Promise<void> {
  await fs.mkdirp(`${dbPath}/sync`);
  const bytes = new TextEncoder().encode(`${JSON.stringify(c, null, 2)}\n`);
  await replaceAtomically(fs, checkpointPath(dbPath, c.collection), bytes);
}
