/**
 * The HNSW index byte format: encode a graph's memory and header fields to bytes and decode
 * them back, validating magic, version, CRC-32C and every graph edge (a bad blob is
 * QuiverError CORRUPT). It knows the memory layout, not the index: HnswIndex calls it.
 * Little-endian throughout (as WebAssembly memory is), so sections copy as raw bytes.
 *
 * | offset | size | field                                                        |
 * |-------:|-----:|--------------------------------------------------------------|
 * |      0 |    4 | magic "QHNW"                                                 |
 * |      4 |    2 | major version (2; 1 is still read): others are refused       |
 * |      6 |    2 | minor version (0): additions a reader may ignore             |
 * |      8 |    4 | dimension u32                                                |
 * |     12 |    1 | metric: 0 euclid, 1 cosine, 2 dot                            |
 * |     13 |    1 | reserved, 0                                                  |
 * |     14 |    2 | m u16 (level 0 holds 2·m links)                              |
 * |     16 |    4 | efConstruction u32                                           |
 * |     20 |    4 | efSearch u32                                                 |
 * |     24 |    4 | slots u32: internal ids 0..slots-1                           |
 * |     28 |    4 | entry point i32 (-1 when empty)                              |
 * |     32 |    4 | top level i32 (-1 when empty)                                |
 * |     36 |    4 | seed u32                                                     |
 * |     40 |    4 | level-generator state u32                                    |
 * |     44 |    4 | U: bytes of upper-level lists u32                            |
 * |     48 |    4 | repair threshold f32                                         |
 * |     52 |    4 | reserved, 0                                                  |
 * |     56 |    … | flags u8 × slots, levels u8 × slots, zero pad to 4,          |
 * |        |      | upper offsets u32 × slots, level-0 lists i32 × (1+2m) × slots, |
 * |        |      | [major 1 only: vectors f32 × dimension × slots], upper lists |
 * |  end-4 |    4 | CRC-32C (Castagnoli) of every byte before it                 |
 *
 * Major 2 carries no vectors: a segment's VECTORS section holds them once, and the
 * decoder takes them from there (the blob has no tombstones: serialize repairs them away,
 * so no node the graph links lacks its vector).
 */
import { crc32c } from '../../common/crc32c.js';
import type { QuiverError } from '../../common/quiver-error.js';
import { corrupt } from '../../common/quiver-error.js';
import type { MetricName } from '../../common/types.js';
import type { HnswMemory, HnswState } from './hnsw-memory.js';
import { FLAG_ALLOCATED, FLAG_DELETED, LIVE } from './hnsw-memory.js';
import type { VectorRows } from '../vector-index.js';

/** "QHNW" read as a little-endian u32. */
const MAGIC = 0x574e4851;
const MAJOR = 2;
const MINOR = 0;
/** The first major, whose blobs carry their own copy of the vectors; still read. */
const MAJOR_WITH_VECTORS = 1;
const HEADER = 56;
const METRICS: readonly MetricName[] = ['euclid', 'cosine', 'dot'];

const pad4 = (n: number): number => (n + 3) & ~3;

export interface SectionOffsets {
  readonly flags: number;
  readonly levels: number;
  readonly upperOff: number;
  readonly links0: number;
  readonly vecs: number;
  readonly upper: number;
  readonly crc: number;
}

/**
 * Byte offsets of the blob's sections (the table above); `vecs` is empty (at `upper`)
 * in a major-2 blob. @internal
 */
export function hnswSections(
  slots: number,
  dim: number,
  m: number,
  upperBytes: number,
  major = MAJOR,
): SectionOffsets {
  const flags = HEADER;
  const levels = flags + slots;
  const upperOff = pad4(levels + slots);
  const links0 = upperOff + slots * 4;
  const vecs = links0 + slots * (1 + 2 * m) * 4;
  const upper = vecs + (major === MAJOR_WITH_VECTORS ? slots * dim * 4 : 0);
  return { flags, levels, upperOff, links0, vecs, upper, crc: upper + upperBytes };
}

/** The major version of a blob (the caller has checked its length and magic). @internal */
export function hnswMajor(blob: Uint8Array): number {
  return new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint16(4, true);
}

/** The header fields of a blob: everything an index holds besides its memory. @internal */
export interface HnswHeader {
  readonly dimension: number;
  readonly metric: MetricName;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  /** Level-generator state. */
  readonly rng: number;
  readonly repairThreshold: number;
  readonly slots: number;
  readonly entry: number;
  readonly maxLevel: number;
}

/** The bytes of the graph in `mem`, described by `header`. @internal */
export function encodeHnsw(mem: HnswMemory, header: HnswHeader): Uint8Array {
  const slots = header.slots;
  const dim = header.dimension;
  const upperBytes = mem.upperUsed;
  const s = hnswSections(slots, dim, header.m, upperBytes);
  const out = new Uint8Array(s.crc + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, MAJOR, true);
  view.setUint16(6, MINOR, true);
  view.setUint32(8, dim, true);
  view.setUint8(12, METRICS.indexOf(header.metric));
  view.setUint16(14, header.m, true);
  view.setUint32(16, header.efConstruction, true);
  view.setUint32(20, header.efSearch, true);
  view.setUint32(24, slots, true);
  view.setInt32(28, header.entry, true);
  view.setInt32(32, header.maxLevel, true);
  view.setUint32(36, header.seed >>> 0, true);
  view.setUint32(40, header.rng >>> 0, true);
  view.setUint32(44, upperBytes, true);
  view.setFloat32(48, header.repairThreshold, true);
  const r = mem.regions;
  const u8 = mem.u8;
  out.set(u8.subarray(r.flags, r.flags + slots), s.flags);
  out.set(u8.subarray(r.levels, r.levels + slots), s.levels);
  out.set(u8.subarray(r.upperOff, r.upperOff + slots * 4), s.upperOff);
  out.set(u8.subarray(r.links0, r.links0 + slots * mem.stride0), s.links0);
  out.set(u8.subarray(r.upper, r.upper + upperBytes), s.upper);
  view.setUint32(s.crc, crc32c(out.subarray(0, s.crc)), true);
  return out;
}

/** A blob {@link decodeHnsw} checked: what to build the index from, and its graph. @internal */
export interface DecodedHnsw {
  /** The index's options and generator state, sized to hold the blob's slots. */
  readonly state: HnswState;
  readonly entry: number;
  readonly maxLevel: number;
  /** Copies the blob's graph and vectors into `mem` (the memory of an index made from `state`). */
  readonly loadInto: (mem: HnswMemory) => void;
  /** The vectors are streamed: loadInto left them for the caller to copy. */
  readonly streamed: boolean;
}

/**
 * Where a major-2 blob's vectors are: the segment's VECTORS section, slot-major, whole or
 * handed over in slot order as the file is streamed (loadInto leaves those to the caller:
 * HnswIndex.deserializing copies them a run at a time); or `'on-disk'`: they stay in the
 * file, and the index is made without them (holdsVectors false).
 */
export type HnswVectors = Float32Array | VectorRows | 'on-disk';

/**
 * Checks bytes written by encodeHnsw (header, checksum, every edge) before anything is
 * built from them; throws CORRUPT naming `source` and the offset. A major-2 blob takes its
 * vectors from `vectors` (slots × dimension values; missing or short is CORRUPT: the
 * segment's VECTORS section does not match its graph). `checksummed`: the caller has
 * already verified a checksum over exactly these bytes, so the blob's own is not recomputed.
 * @internal
 */
export function decodeHnsw(
  bytes: Uint8Array,
  source: string,
  vectors?: HnswVectors,
  checksummed = false,
): DecodedHnsw {
  if (bytes.length < HEADER + 4) throw corrupt(source, bytes.length, 'truncated HNSW header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt(source, 0, 'bad HNSW magic');
  const major = view.getUint16(4, true);
  if (major !== MAJOR && major !== MAJOR_WITH_VECTORS) {
    throw corrupt(source, 4, `unsupported HNSW format version ${major}`);
  }
  const crcAt = bytes.length - 4;
  // A container that checksums the blob's bytes itself (a segment's GRAPH section) makes
  // a second pass over them redundant; the structural checks below run regardless.
  if (!checksummed && crc32c(bytes.subarray(0, crcAt)) !== view.getUint32(crcAt, true)) {
    throw corrupt(source, crcAt, 'HNSW checksum mismatch');
  }
  const dim = view.getUint32(8, true);
  const metric = METRICS[view.getUint8(12)];
  const m = view.getUint16(14, true);
  const efConstruction = view.getUint32(16, true);
  const efSearch = view.getUint32(20, true);
  const slots = view.getUint32(24, true);
  const entry = view.getInt32(28, true);
  const maxLevel = view.getInt32(32, true);
  const upperBytes = view.getUint32(44, true);
  if (metric === undefined) throw corrupt(source, 12, 'unknown HNSW metric');
  if (dim < 1 || dim > 65536) throw corrupt(source, 8, 'HNSW dimension out of range');
  if (m < 2 || m > 128) throw corrupt(source, 14, 'HNSW m out of range');
  if (efConstruction < 1 || efSearch < 1) throw corrupt(source, 16, 'HNSW ef out of range');
  const s = hnswSections(slots, dim, m, upperBytes, major);
  if (s.crc !== crcAt) throw corrupt(source, 24, 'HNSW section sizes disagree with length');
  const own = major === MAJOR_WITH_VECTORS;
  const onDisk = vectors === 'on-disk';
  const whole = vectors instanceof Float32Array ? vectors : undefined;
  const rows = vectors instanceof Float32Array || typeof vectors !== 'object' ? undefined : vectors;
  if (!own && rows !== undefined && (rows.dimension !== dim || rows.slots < slots)) {
    throw corrupt(
      source,
      24,
      `the HNSW graph holds ${slots} slots of ${dim} values but its segment's vectors are ${rows.slots} of ${rows.dimension}`,
    );
  }
  if (
    !own &&
    !onDisk &&
    (vectors === undefined || (whole !== undefined && whole.length < slots * dim))
  ) {
    throw corrupt(
      source,
      24,
      `the HNSW graph holds ${slots} slots of ${dim} values but its segment's vectors are ${whole?.length ?? 'missing'} values`,
    );
  }
  if (
    entry < -1 ||
    entry >= slots ||
    maxLevel < -1 ||
    maxLevel > 255 ||
    entry < 0 !== maxLevel < 0
  ) {
    throw corrupt(source, 28, 'HNSW entry point out of range');
  }
  checkGraph(bytes, view, s, slots, m, upperBytes, source);
  const state: HnswState = {
    dimension: dim,
    metric,
    m,
    efConstruction,
    efSearch,
    seed: view.getUint32(36, true),
    rng: view.getUint32(40, true) | 0,
    repairThreshold: view.getFloat32(48, true),
    slots,
    upperBytes: Math.max(upperBytes, 64),
    capacity: Math.max(slots, 1),
    ...(onDisk ? { holdsVectors: false } : {}),
  };
  const loadInto = (mem: HnswMemory): void => {
    const r = mem.regions;
    mem.u8.set(bytes.subarray(s.flags, s.flags + slots), r.flags);
    mem.u8.set(bytes.subarray(s.levels, s.levels + slots), r.levels);
    mem.u8.set(bytes.subarray(s.upperOff, s.upperOff + slots * 4), r.upperOff);
    mem.u8.set(bytes.subarray(s.links0, s.vecs), r.links0);
    if (onDisk) {
      // The index holds no vectors: they are read from the file on demand.
    } else if (own) mem.u8.set(bytes.subarray(s.vecs, s.upper), r.vecs);
    else if (whole !== undefined) mem.f32.set(whole.subarray(0, slots * dim), r.vecs >> 2);
    // Streamed rows are copied by the caller, in steps (they are read as they come).
    mem.u8.set(bytes.subarray(s.upper, s.crc), r.upper);
    mem.upperUsed = upperBytes;
  };
  return { state, entry, maxLevel, loadInto, streamed: !own && rows !== undefined };
}

/**
 * Flags, levels, list counts and every link target in range; offsets name the bad field.
 * The lists are read as 32-bit words (a view when the blob sits on a 4-byte boundary, as
 * in a 1.4 segment file; a copy otherwise): a million nodes carry some 30 million links.
 */
function checkGraph(
  bytes: Uint8Array,
  view: DataView,
  s: SectionOffsets,
  slots: number,
  m: number,
  upperBytes: number,
  source: string,
): void {
  const stride0 = 1 + 2 * m;
  const strideU = 1 + m;
  const lists0 = int32sAt(bytes, s.links0, slots * stride0);
  const listsU = int32sAt(bytes, s.upper, upperBytes >>> 2);
  const levels = bytes.subarray(s.levels, s.levels + slots);
  for (let id = 0; id < slots; id++) {
    const f = bytes[s.flags + id]!;
    if (f !== 0 && f !== FLAG_ALLOCATED && f !== LIVE && f !== (LIVE | FLAG_DELETED)) {
      throw corrupt(source, s.flags + id, 'HNSW node flags invalid');
    }
    const bad0 = badLink(lists0, id * stride0, 2 * m, 0, levels);
    if (bad0 >= 0) throw listCorrupt(source, s.links0, id * stride0, bad0);
    const level = levels[id]!;
    if (level === 0) continue;
    const off = view.getUint32(s.upperOff + id * 4, true);
    if (off % 4 !== 0 || off + level * strideU * 4 > upperBytes) {
      throw corrupt(source, s.upperOff + id * 4, 'HNSW upper-level offset out of range');
    }
    for (let l = 1; l <= level; l++) {
      const at = off / 4 + (l - 1) * strideU;
      const bad = badLink(listsU, at, m, l, levels);
      if (bad >= 0) throw listCorrupt(source, s.upper, at, bad);
    }
  }
}

/**
 * Checks the list at words[at] (count, then targets): -1 when sound, 0 when the count is
 * out of range, j + 1 when target j is outside the graph or below `level`.
 */
function badLink(
  words: Int32Array,
  at: number,
  max: number,
  level: number,
  levels: Uint8Array,
): number {
  const count = words[at]!;
  if (count < 0 || count > max) return 0;
  const slots = levels.length;
  for (let j = 1; j <= count; j++) {
    const target = words[at + j]!;
    if (target < 0 || target >= slots || levels[target]! < level) return j;
  }
  return -1;
}

/** CORRUPT for word `bad` of the list at word `at` of the section at byte `base`. */
function listCorrupt(source: string, base: number, at: number, bad: number): QuiverError {
  const what = bad === 0 ? 'HNSW link count out of range' : 'HNSW link target out of range';
  return corrupt(source, base + (at + bad) * 4, what);
}

/** `count` little-endian i32s at byte `at` of `bytes`: a view when aligned, else a copy. */
function int32sAt(bytes: Uint8Array, at: number, count: number): Int32Array {
  const start = bytes.byteOffset + at;
  if (start % 4 === 0) return new Int32Array(bytes.buffer, start, count);
  const out = new Int32Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(at, at + count * 4));
  return out;
}
