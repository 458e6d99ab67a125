/**
 * The manifest (docs/FORMAT.md §7): which collections exist, which sealed segments and
 * tombstone files are live, and from which LSN the WAL must be replayed. Replaced
 * atomically: write a temp file, fsync, rename over MANIFEST, fsync the directory.
 */
import { ByteWriter, utf8Decode, utf8Encode } from '../../common/bytes.js';
import { crc32c } from '../../common/crc32c.js';
import { corrupt, QuiverError } from '../../common/quiver-error.js';
import type { JsonObject } from '../../common/types.js';
import { replaceAtomically } from '../io/atomic-replace.js';
import type { FileSystem } from '../io/file-system.js';
import { FORMAT_MAJOR, FORMAT_MINOR, MANIFEST_FILE, MANIFEST_MAGIC } from '../format.js';

export interface ManifestSegment {
  readonly id: number;
  /** Segment file name (in segments/). */
  readonly file: string;
  /** Tombstone file name, or null when the segment has no deletes on disk. */
  readonly tombstones: string | null;
  readonly tombstoneGeneration: number;
  readonly points: number;
  readonly bytes: number;
  /**
   * Since 1.2: the collection name in the segment file's header, when it is not the
   * collection's own (a segment a staging collection wrote and the collection took over
   * at a swap). Absent otherwise.
   */
  readonly collection?: string;
}

export interface ManifestCollection {
  /** The collection config as created (name, dimension, metric, hnsw, quantization). */
  readonly config: JsonObject;
  /** LSN of its CREATE_COLLECTION record. */
  readonly createdLsn: number;
  /**
   * When it was created (ISO 8601, UTC), from format 1.1; absent in older manifests, whose
   * collections report their creation time as unknown (null).
   */
  readonly createdAt?: string | null;
  /** Every record of this collection up to this LSN is in its sealed segments. */
  readonly sealedThroughLsn: number;
  readonly segments: readonly ManifestSegment[];
}

export interface Manifest {
  readonly generation: number;
  /** Replay the WAL from this LSN. */
  readonly walStartLsn: number;
  /** The last LSN that existed when this manifest was written. */
  readonly checkpointLsn: number;
  readonly nextSegmentId: number;
  readonly collections: readonly ManifestCollection[];
}

export const EMPTY_MANIFEST: Manifest = Object.freeze({
  generation: 0,
  walStartLsn: 1,
  checkpointLsn: 0,
  nextSegmentId: 1,
  collections: [],
});

const HEADER = 16;

/** The names (in segments/) of every segment and tombstone file `m` references. */
export function manifestFiles(m: Manifest): string[] {
  const out: string[] = [];
  for (const c of m.collections) {
    for (const s of c.segments) {
      out.push(s.file);
      if (s.tombstones !== null) out.push(s.tombstones);
    }
  }
  return out;
}

export function encodeManifest(m: Manifest): Uint8Array {
  const body = utf8Encode(JSON.stringify(m));
  const w = new ByteWriter(HEADER + body.length + 4);
  w.u32(MANIFEST_MAGIC).u16(FORMAT_MAJOR).u16(FORMAT_MINOR).u32(body.length);
  w.u32(crc32c(body, crc32c(w.finish().subarray(0, 12))));
  w.bytes(body);
  return w.finish().slice();
}

export function decodeManifest(bytes: Uint8Array, file: string): Manifest {
  if (bytes.length < HEADER) throw corrupt(file, 0, 'manifest is truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MANIFEST_MAGIC) throw corrupt(file, 0, 'bad manifest magic');
  const length = view.getUint32(8, true);
  if (HEADER + length !== bytes.length)
    throw corrupt(file, 8, 'manifest length does not match the file size');
  const body = bytes.subarray(HEADER);
  if (crc32c(body, crc32c(bytes.subarray(0, 12))) !== view.getUint32(12, true)) {
    throw corrupt(file, 12, 'manifest checksum mismatch');
  }
  const major = view.getUint16(4, true);
  if (major > FORMAT_MAJOR) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${file} uses manifest format ${major}.x, newer than this Quiver reads (${FORMAT_MAJOR}.x). Upgrade quiverdb to open this database.`,
      { file, offset: 4 },
    );
  }
  try {
    const m = JSON.parse(utf8Decode(body)) as Manifest;
    if (typeof m.walStartLsn !== 'number' || !Array.isArray(m.collections)) {
      throw new TypeError('manifest fields missing');
    }
    return m;
  } catch (e) {
    throw corrupt(file, HEADER, 'manifest body is not valid', e);
  }
}

/** Reads DIR/MANIFEST, or the empty manifest when there is none yet. */
export async function readManifest(fs: FileSystem, dir: string): Promise<Manifest> {
  const path = `${dir}/${MANIFEST_FILE}`;
  if (!(await fs.exists(path))) return EMPTY_MANIFEST;
  return decodeManifest(await fs.readFile(path), path);
}

/** Replaces DIR/MANIFEST atomically (temp, fsync, rename, fsync dir). */
export async function writeManifest(fs: FileSystem, dir: string, m: Manifest): Promise<void> {
  await replaceAtomically(fs, `${dir}/${MANIFEST_FILE}`, encodeManifest(m), {
    beforeRename: 'beforeManifestRename',
    afterRename: 'afterManifestRename',
  });
}
