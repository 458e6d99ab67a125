/**
 * Where this node is in each shard stream, saved in the data directory
 * (`cluster/positions.json`), so a restart reads only the tail of each stream. A position is
 * saved only after the database flushed what it covers: the saved one may trail the
 * applied one (replaying the gap is harmless, see shard-applier.ts), never lead it.
 */
import type { FileSystem } from '../storage/io/file-system.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';

/** collection → the definition they belong to (its uid) and shard → last applied sequence. */
export type Positions = Record<
  string,
  { readonly uid: string; readonly shards: Record<string, number> }
>;

export const POSITIONS_DIR = 'cluster';
const FILE = 'positions.json';

export async function readPositions(fs: FileSystem, dataDir: string): Promise<Positions> {
  const path = `${dataDir}/${POSITIONS_DIR}/${FILE}`;
  if (!(await fs.exists(path))) return {};
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(await fs.readFile(path)));
    return isPositions(parsed) ? parsed : {};
  } catch {
    // A damaged file costs a longer replay from the start of each stream, not data.
    return {};
  }
}

export async function writePositions(
  fs: FileSystem,
  dataDir: string,
  positions: Positions,
): Promise<void> {
  await fs.mkdirp(`${dataDir}/${POSITIONS_DIR}`);
  const bytes = new TextEncoder().encode(JSON.stringify(positions));
  await replaceAtomically(fs, `${dataDir}/${POSITIONS_DIR}/${FILE}`, bytes);
}

function isPositions(v: unknown): v is Positions {
  if (!isObject(v)) return false;
  return Object.values(v).every(
    (p) =>
      isObject(p) &&
      typeof p['uid'] === 'string' &&
      isObject(p['shards']) &&
      Object.values(p['shards']).every((n) => Number.isSafeInteger(n) && (n as number) >= 0),
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
