/**
 * The byte encoding of point ids shared by WAL bodies and segment files (docs/FORMAT.md
 * §2.3): `tag:u8` then a u64 integer (tag 0) or `len:u16` + UTF-8 (tag 1); tag 255 marks
 * an empty segment slot.
 */
import type { ByteReader, ByteWriter } from '../common/bytes.js';
import { utf8Decode, utf8Encode } from '../common/bytes.js';
import type { PointId } from '../common/types.js';

const ID_INT = 0;
const ID_STRING = 1;
const ID_NONE = 255;

/** Writes an id, or the empty-slot tag for undefined. */
export function writePointId(w: ByteWriter, id: PointId | undefined): void {
  if (id === undefined) w.u8(ID_NONE);
  else if (typeof id === 'number') w.u8(ID_INT).u64(id);
  else {
    const b = utf8Encode(id);
    w.u8(ID_STRING).u16(b.length).bytes(b);
  }
}

/** Reads an id (undefined for an empty slot); throws RangeError on an unknown tag. */
export function readPointId(r: ByteReader): PointId | undefined {
  const tag = r.u8();
  if (tag === ID_INT) return r.u64();
  if (tag === ID_STRING) return utf8Decode(r.bytesView(r.u16()));
  if (tag === ID_NONE) return undefined;
  throw new RangeError(`unknown id tag ${tag}`);
}
