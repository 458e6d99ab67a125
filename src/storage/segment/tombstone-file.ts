/**
 * Tombstone files (docs/FORMAT.md §6): the deleted slots of one sealed segment as of one
 * generation. Immutable: a newer generation is a new file named in the next manifest.
 */
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { crc32c } from '../../common/crc32c.js';
import { corrupt, QuiverError } from '../../common/quiver-error.js';
import { FORMAT_MAJOR, FORMAT_MINOR, TOMBSTONE_MAGIC } from '../format.js';

export interface TombstoneData {
  readonly segmentId: number;
  readonly generation: number;
  /** Deleted slots, ascending. */
  readonly slots: Uint32Array;
}

const HEADER = 24;

export function encodeTombstones(t: TombstoneData): Uint8Array {
  const w = new ByteWriter(HEADER + t.slots.length * 4 + 4);
  w.u32(TOMBSTONE_MAGIC).u16(FORMAT_MAJOR).u16(FORMAT_MINOR);
  w.u64(t.segmentId).u32(t.generation).u32(t.slots.length);
  for (const s of t.slots) w.u32(s);
  const body = w.finish();
  w.u32(crc32c(body));
  return w.finish().slice();
}

export function decodeTombstones(bytes: Uint8Array, file: string): TombstoneData {
  if (bytes.length < HEADER + 4) throw corrupt(file, 0, 'tombstone file is truncated');
  const r = new ByteReader(bytes);
  if (r.u32() !== TOMBSTONE_MAGIC) throw corrupt(file, 0, 'bad tombstone magic');
  const crcAt = bytes.length - 4;
  const crc = new DataView(bytes.buffer, bytes.byteOffset + crcAt, 4).getUint32(0, true);
  if (crc !== crc32c(bytes.subarray(0, crcAt))) {
    throw corrupt(file, crcAt, 'tombstone file checksum mismatch');
  }
  const major = r.u16();
  if (major > FORMAT_MAJOR) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${file} uses tombstone format ${major}.x, newer than this Quiver reads. Upgrade quiverdb.`,
      { file, offset: 4 },
    );
  }
  r.u16();
  const segmentId = r.u64();
  const generation = r.u32();
  const count = r.u32();
  if (HEADER + count * 4 + 4 !== bytes.length) {
    throw corrupt(file, 20, `tombstone count ${count} does not match the file size`);
  }
  const slots = new Uint32Array(count);
  for (let i = 0; i < count; i++) slots[i] = r.u32();
  return { segmentId, generation, slots };
}
