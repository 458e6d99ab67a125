/**
 * The oracle of the sync tests: the point ids a folder's files should give, computed from
 * the chunker and the id rule directly (not through a sync run), so a test can compare a
 * collection's ids with what its folder holds now.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ChunkOptions } from '../../src/sync/chunker.js';
import { chunkText } from '../../src/sync/chunker.js';
import { documentText } from '../../src/sync/document-text.js';
import { chunkId } from '../../src/sync/source-plan.js';

/** Every file under `dir`, as a path relative to it. */
export function filesOf(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((name) => {
    const path = rel === '' ? name : `${rel}/${name}`;
    return statSync(join(dir, path)).isDirectory() ? filesOf(dir, path) : [path];
  });
}

/** The sorted chunk ids of `files` (default: every file) under `dir`, chunked with `chunk`. */
export function expectedChunkIds(
  dir: string,
  chunk: ChunkOptions,
  files: readonly string[] = filesOf(dir),
): string[] {
  const ids: string[] = [];
  for (const path of files) {
    const doc = documentText(path, readFileSync(join(dir, path)));
    if (!doc.ok) continue;
    const seen = new Map<string, number>();
    for (const c of chunkText(doc.text, chunk)) {
      const n = seen.get(c.hash) ?? 0;
      seen.set(c.hash, n + 1);
      ids.push(chunkId(path, c.hash, n));
    }
  }
  return ids.sort();
}
