/**
 * WalBodyWriter: writes a record body straight into a buffer with room for its frame
 * (wal-record.ts allocateWalBody), so the WAL writer frames it without a copy. Vectors are
 * copied as whole byte ranges and strings UTF-8 encoded in place (ByteWriter does both);
 * `finish()` is a prefix of the framed buffer, so it keeps its header room. Ids are
 * written as id-codec.ts writes them (docs/FORMAT.md §2.3).
 */
import { ByteWriter } from '../../common/bytes.js';
import type { PointId } from '../../common/types.js';
import { allocateWalBody } from './wal-record.js';

// The id tags of id-codec.ts: an integer id, then a string id.
const ID_INT = 0;
const ID_STRING = 1;

export class WalBodyWriter extends ByteWriter {
  /** `expected`: the body's size when every string is ASCII (it grows past it otherwise). */
  constructor(expected: number) {
    super(expected, allocateWalBody);
  }

  /** A point id as id-codec.ts writes it: tag, then a u64 or a u16-prefixed string. */
  id(id: PointId): this {
    if (typeof id === 'number') return this.u8(ID_INT).u64(id);
    return this.u8(ID_STRING).utf8(id, 2);
  }
}
