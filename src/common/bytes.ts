/**
 * Little-endian byte helpers shared by every codec: a growable writer and a bounds-checked
 * reader. 64-bit values are JS numbers (safe up to 2^53-1), stored as two u32 halves.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8, throwing on invalid sequences. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** True on little-endian hosts (all Node.js targets), whose floats are stored as files hold them. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Appends little-endian values to a growing buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private readonly allocate: (bytes: number) => Uint8Array;

  /**
   * `allocate` makes each buffer (a subclass may hand out views with room before them,
   * as the WAL does for its frame header); by default a plain Uint8Array.
   */
  constructor(initial = 256, allocate: (bytes: number) => Uint8Array = (n) => new Uint8Array(n)) {
    this.allocate = allocate;
    this.buf = allocate(initial);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = Math.max(this.buf.length * 2, 1);
    while (cap < this.pos + n) cap *= 2;
    const next = this.allocate(cap);
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

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  f32s(v: Float32Array): this {
    this.reserve(v.length * 4);
    if (HOST_LITTLE_ENDIAN) {
      // The floats' own bytes are their little-endian encoding: one copy.
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
    this.reserve(width);
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

  /** The bytes written so far (a view; copy if the writer is reused). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Thrown by ByteReader when a read runs past the end; codecs turn it into CORRUPT. */
export class OutOfBoundsError extends Error {
  override readonly name = 'OutOfBoundsError';
}

/** Reads little-endian values with bounds checks. */
export class ByteReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos: number;

  constructor(bytes: Uint8Array, pos = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) {
      throw new OutOfBoundsError(`read of ${n} bytes at ${this.pos} past end ${this.bytes.length}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }

  bytesView(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  f32s(n: number): Float32Array {
    this.need(n * 4);
    const out = new Float32Array(n);
    if (HOST_LITTLE_ENDIAN) {
      // The file's bytes are the floats' own bytes here: one copy instead of n reads.
      new Uint8Array(out.buffer).set(this.bytes.subarray(this.pos, this.pos + n * 4));
    } else {
      for (let i = 0; i < n; i++) out[i] = this.view.getFloat32(this.pos + i * 4, true);
    }
    this.pos += n * 4;
    return out;
  }
}
