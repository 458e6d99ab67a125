/**
 * What a source folder should give a collection: every matching file read as text and
 * chunked, each chunk with the point id it is stored under (path, chunk hash and
 * occurrence, as a UUID), and the files skipped with their reason. Sync compares this
 * plan with the collection to know what to embed and delete; the doctor, to find orphans,
 * gaps and drift.
 */
import type { JsonObject } from '../common/types.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { Chunk, ChunkOptions } from './chunker.js';
import { sha256 } from '../ops/ops-files.js';
import { chunkText } from './chunker.js';
import { documentText } from './document-text.js';
import type { SourceSelection, WalkSkipReason } from './source-files.js';
import { DEFAULT_MAX_FILE_BYTES, listSourceFiles } from './source-files.js';

/** Why a file is not in the plan: read and refused, or passed over by the walk (never opened). */
export type SkipReason = 'binary' | 'invalid-utf8' | 'too-large' | 'unreadable' | WalkSkipReason;

/** What the plan reads: the folder, which files, how to chunk them. */
export interface SourceOptions extends SourceSelection {
  readonly source: string;
  readonly chunk?: ChunkOptions;
  /** Files over this many bytes are skipped. Default 4 MiB. */
  readonly maxFileBytes?: number;
}

/** One chunk to be: its point id and where it comes from. */
export interface PlannedChunk {
  readonly id: string;
  readonly path: string;
  readonly ordinal: number;
  readonly chunk: Chunk;
  /** The file's front matter. */
  readonly meta: JsonObject;
}

export interface FilePlan {
  readonly path: string;
  readonly chunks: readonly PlannedChunk[];
}

/** Reads and chunks every matching file; unreadable or non-text files are skipped. */
export async function planSource(
  fs: FileSystem,
  o: SourceOptions,
): Promise<{ plans: FilePlan[]; skipped: { path: string; reason: SkipReason }[] }> {
  const { files, skipped: passedOver } = await listSourceFiles(fs, o.source, o);
  const maxBytes = o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const plans: FilePlan[] = [];
  const skipped: { path: string; reason: SkipReason }[] = [...passedOver];
  for (const f of files) {
    if (f.size > maxBytes) {
      skipped.push({ path: f.path, reason: 'too-large' });
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(`${o.source.replace(/\/+$/, '')}/${f.path}`);
    } catch {
      skipped.push({ path: f.path, reason: 'unreadable' });
      continue;
    }
    const doc = documentText(f.path, bytes);
    if (!doc.ok) {
      skipped.push({ path: f.path, reason: doc.reason });
      continue;
    }
    const seen = new Map<string, number>();
    const chunks = chunkText(doc.text, o.chunk).map((chunk, ordinal) => {
      const n = seen.get(chunk.hash) ?? 0;
      seen.set(chunk.hash, n + 1);
      return { id: chunkId(f.path, chunk.hash, n), path: f.path, ordinal, chunk, meta: doc.meta };
    });
    plans.push({ path: f.path, chunks });
  }
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { plans, skipped };
}

/**
 * The point id of the n-th chunk with `hash` in `path`: a UUID (as Qdrant clients expect)
 * made of the SHA-256 of the three, so an unchanged chunk keeps its id across runs.
 */
export function chunkId(path: string, hash: string, occurrence: number): string {
  const h = sha256(`${path}\u0000${hash}\u0000${occurrence}`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
