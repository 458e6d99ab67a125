/**
 * WalBodyWriter: writes a record body straight into a buffer with room for its frame
 * (wal-record.ts allocateWalBody), so the WAL writer frames it without a copy. Vectors are
 * copied as whole byte ranges and strings UTF-8 encoded in place, not value by value.
 * Produces the same bytes as ByteWriter and id-codec.ts (docs/FORMAT.md §2.3).
 */
import { HOST_LITTLE_ENDIAN } from '../../common/bytes.js';
import type { PointId } from '../../common/types.js';
import { allocateWalBody } from './wal-record.js';

const encoder = new TextEncoder();
/** A Float32Array's bytes are its little-endian encoding on little-endian hosts only. */

// The id tags of id-codec.ts: an integer id, then a string id.
const ID_INT = 0;
const ID_STRING = 1;

export class WalBodyWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  /** `expected`: the body's size when every string is ASCII (it grows past it otherwise). */
  constructor(expected: number) {
    this.buf = allocateWalBody(expected);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = allocateWalBody(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }

  u64(v: number): this {
    this.reserve(8);
    this.view.setUint32(this.pos, v % 0x1_0000_0000, true);
    this.view.setUint32(this.pos + 4, Math.floor(v / 0x1_0000_0000), true);
    this.pos += 8;
    return this;
  }

  f32s(v: Float32Array): this {
    this.reserve(v.length * 4);
    if (HOST_LITTLE_ENDIAN) {
      this.buf.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), this.pos);
    } else {
      for (let i = 0; i < v.length; i++) this.view.setFloat32(this.pos + i * 4, v[i]!, true);
    }
    this.pos += v.length * 4;
    return this;
  }

  /** `s` as UTF-8 after its byte length, a u16 or u32 (`width`), encoded where it goes. */
  utf8(s: string, width: 2 | 4): this {
    const at = this.pos;
    this.pos += width;
    // A UTF-16 unit takes 1 to 3 UTF-8 bytes: try the ASCII size, then the worst case.
    this.reserve(s.length);
    let done = encoder.encodeInto(s, this.buf.subarray(this.pos));
    if (done.read < s.length) {
      this.reserve(s.length * 3);
      done = encoder.encodeInto(s, this.buf.subarray(this.pos));
    }
    if (width === 2) this.view.setUint16(at, done.written, true);
    else this.view.setUint32(at, done.written, true);
    this.pos += done.written;
    return this;
  }

  /** A point id as id-codec.ts writes it: tag, then a u64 or a u16-prefixed string. */
  id(id: PointId): this {
    if (typeof id === 'number') return this.u8(ID_INT).u64(id);
    return this.u8(ID_STRING).utf8(id, 2);
  }

  /** The body written (a prefix of the framed buffer, so it keeps its header room). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
