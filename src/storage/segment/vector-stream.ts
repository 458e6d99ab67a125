/**
 * VectorStream: the VECTORS section of a segment file read front to back through one small
 * buffer, each run added to the checksum as it passes. How a segment with a graph is
 * opened: its vectors are copied into the graph, or its codes encoded (vectors on disk),
 * run by run, and the file's vectors are never held whole (reading the file whole made an
 * open's peak memory the size of its segments), while every byte is still checked, as
 * decodeSegment checks it, before the segment is used (vectors or codes made from bytes
 * that then fail the check are thrown away with the segment).
 */
import { HOST_LITTLE_ENDIAN } from '../../common/bytes.js';
import { crc32c } from '../../common/crc32c.js';
import { corrupt, QuiverError } from '../../common/quiver-error.js';
import type { Steps } from '../../common/steps.js';
import type { FileHandle } from '../io/file-system.js';
import type { SectionEntry } from './segment-file.js';

/** Bytes read at a time by finishing() (the rows no encoder asked for). */
const SKIP_BYTES = 1 << 20;

export class VectorStream {
  private readonly handle: FileHandle;
  private readonly entry: SectionEntry;
  /** Values per vector (the segment's dimension). */
  readonly dimension: number;
  /** The slot the next read starts at. */
  private next = 0;
  private crc = 0;
  private buffer = new Float32Array(0);

  /** `entry`: the file's VECTORS section (its length checked against the header). */
  constructor(handle: FileHandle, entry: SectionEntry, dimension: number) {
    this.handle = handle;
    this.entry = entry;
    this.dimension = dimension;
  }

  /** Slots from..to-1 of the section, slot-major; valid until the next call. */
  rows(from: number, to: number): Float32Array {
    if (to > this.slots) {
      // The graph (whose slots the encoder walks) holds more than the header says.
      throw corrupt(
        this.handle.path,
        this.entry.offset,
        `the segment's graph has slots past the ${this.slots} its vectors section holds`,
      );
    }
    if (from !== this.next || to < from) {
      throw new QuiverError(
        'INTERNAL',
        `${this.handle.path}: vectors ${from}..${to} asked for out of order (next is ${this.next}); this is a bug.`,
      );
    }
    const values = (to - from) * this.dimension;
    if (this.buffer.length < values) this.buffer = new Float32Array(values);
    const out = this.buffer.subarray(0, values);
    const bytes = new Uint8Array(out.buffer, out.byteOffset, values * 4);
    this.read(bytes);
    if (!HOST_LITTLE_ENDIAN) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < values; i++) out[i] = view.getFloat32(i * 4, true);
    }
    this.next = to;
    return out;
  }

  /**
   * Reads the rest of the section (whatever no encoder asked for: all of it when the codes
   * are stored) a mebibyte a step, then checks its checksum: CORRUPT at the section's offset
   * when the bytes are not the ones written. Steps, so that an open gives the event loop
   * turns between them (runInSlices).
   */
  *finishing(): Steps<void> {
    const step = Math.max(1, Math.floor(SKIP_BYTES / (this.dimension * 4)));
    while (this.next < this.slots) {
      this.rows(this.next, Math.min(this.slots, this.next + step));
      yield;
    }
    if (this.crc !== this.entry.crc) {
      throw corrupt(
        this.handle.path,
        this.entry.offset,
        `segment section ${this.entry.kind} checksum mismatch`,
      );
    }
  }

  /** Slots the section holds (its length was checked against the header's count). */
  get slots(): number {
    return this.entry.length / (this.dimension * 4);
  }

  /** Fills `bytes` from where the last read stopped, adding them to the checksum. */
  private read(bytes: Uint8Array): void {
    const at = this.entry.offset + this.next * this.dimension * 4;
    const n = this.handle.readSync(at, bytes);
    if (n !== bytes.length) {
      throw corrupt(
        this.handle.path,
        at + n,
        `the file ends at byte ${at + n} but its vectors run to byte ${at + bytes.length}`,
      );
    }
    this.crc = crc32c(bytes, this.crc);
  }
}
