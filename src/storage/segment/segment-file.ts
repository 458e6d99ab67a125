/**
 * Sealed segment files (docs/FORMAT.md §5): an immutable file holding a segment's ids,
 * payloads, vectors and (optionally) its HNSW graph, each section checksummed. Pure
 * encode/decode over bytes; the engine does the I/O through the FileSystem.
 */
import {
  ByteReader,
  ByteWriter,
  HOST_LITTLE_ENDIAN,
  OutOfBoundsError,
  utf8Decode,
  utf8Encode,
} from '../../common/bytes.js';
import { crc32c } from '../../common/crc32c.js';
import type { Steps } from '../../common/steps.js';
import { runSteps } from '../../common/steps.js';
import { corrupt, QuiverError } from '../../common/quiver-error.js';
import type { MetricName, PointId } from '../../common/types.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  SEGMENT_HEADER_SIZE,
  SEGMENT_MAGIC,
  SegmentSection,
} from '../format.js';
import { readPointId, writePointId } from '../id-codec.js';
import type { Quantizer } from '../../ann/quantizer.js';
import { decodeQuantizer, encodeQuantizer } from './quantizer-codec.js';

const METRIC_CODE: Record<MetricName, number> = { euclid: 0, cosine: 1, dot: 2 };
const METRIC_NAME: readonly MetricName[] = ['euclid', 'cosine', 'dot'];
const SECTION_ENTRY = 24;
/** Sections every segment file lists (FORMAT.md §5.2), each once. */
const REQUIRED_SECTIONS = [SegmentSection.IDS, SegmentSection.PAYLOADS, SegmentSection.VECTORS];
const utf8 = new TextEncoder();

/** Everything a sealed segment file holds. Slot i is the point with internal id i. */
export interface SegmentData {
  readonly segmentId: number;
  readonly collection: string;
  readonly dimension: number;
  readonly metric: MetricName;
  /** LSN range of the records the segment was built from. */
  readonly minLsn: number;
  readonly maxLsn: number;
  /** External id per slot; undefined for a slot that was already deleted when sealed. */
  readonly ids: readonly (PointId | undefined)[];
  /** Payload JSON per slot ('' = {}). */
  readonly payloads: readonly string[];
  /**
   * slots × dimension values. Decoded, usually a view of the file's bytes: read it or copy
   * it, never write it, and hold it no longer than the file's bytes.
   */
  readonly vectors: Float32Array;
  /** The serialized HNSW graph, when the segment has one. */
  readonly graph: Uint8Array | undefined;
  /** The quantizer trained when the segment was written, when its collection has one. */
  readonly quantizer?: Quantizer | undefined;
  /**
   * A product quantizer's codes: slots × subspaces bytes, slot-major (written with it,
   * so that an open need not encode them again; a view of the file's bytes when decoded).
   */
  readonly productCodes?: Uint8Array | undefined;
}

function encodeIds(ids: readonly (PointId | undefined)[]): Uint8Array {
  const w = new ByteWriter(ids.length * 9 + 16);
  for (const id of ids) {
    writePointId(w, id);
  }
  return w.finish();
}

/** u32 length + UTF-8 per slot, each string encoded where it goes (sized for ASCII first). */
function encodePayloads(payloads: readonly string[]): Uint8Array {
  let chars = 0;
  for (const p of payloads) chars += p.length;
  let out: Uint8Array = new Uint8Array(payloads.length * 4 + chars);
  let pos = 0;
  for (const p of payloads) {
    // Earlier multi-byte text may have used this one's room: make sure of its ASCII size.
    if (pos + 4 + p.length > out.length) out = grown(out, pos, 4 + p.length);
    let done = utf8.encodeInto(p, out.subarray(pos + 4));
    if (done.read < p.length) {
      out = grown(out, pos, 4 + p.length * 3);
      done = utf8.encodeInto(p, out.subarray(pos + 4));
    }
    writeU32(out, pos, done.written);
    pos += 4 + done.written;
  }
  return out.subarray(0, pos);
}

/** `out`'s first `used` bytes in a buffer with at least `need` more (and doubled). */
function grown(out: Uint8Array, used: number, need: number): Uint8Array {
  const next = new Uint8Array(Math.max(out.length * 2, used + need));
  next.set(out.subarray(0, used));
  return next;
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = v >>> 24;
}

/**
 * The vectors' little-endian bytes: on a little-endian host the array's own bytes (no
 * copy; the file encoder copies them once, into the file).
 */
function encodeVectors(v: Float32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new ByteWriter(v.length * 4 + 8).f32s(v).finish();
}

const align8 = (n: number): number => (n + 7) & ~7;

/** Bytes checksummed between two steps of {@link encodingSegment} (about a millisecond). */
const CRC_STEP = 1 << 20;

/** Encodes a whole segment file. */
export function encodeSegment(data: SegmentData): Uint8Array {
  return runSteps(encodingSegment(data));
}

/**
 * {@link encodeSegment} in steps: a section encoded, or a mebibyte checksummed, per step.
 * A seal runs it in slices (runInSlices): checksumming a 20 000 × 128 segment's sections
 * whole held the event loop for about 40 ms. `data` must not change until it returns.
 */
export function* encodingSegment(data: SegmentData): Steps<Uint8Array> {
  const ids = encodeIds(data.ids);
  yield;
  const payloads = encodePayloads(data.payloads);
  yield;
  const sections: { kind: number; bytes: Uint8Array }[] = [
    { kind: SegmentSection.IDS, bytes: ids },
    { kind: SegmentSection.PAYLOADS, bytes: payloads },
    { kind: SegmentSection.VECTORS, bytes: encodeVectors(data.vectors) },
  ];
  if (data.graph !== undefined) sections.push({ kind: SegmentSection.GRAPH, bytes: data.graph });
  if (data.quantizer !== undefined) {
    const quant = encodeQuantizer(data.quantizer, data.productCodes);
    sections.push({ kind: SegmentSection.QUANT, bytes: quant });
  }
  const name = utf8Encode(data.collection);
  const tableStart = SEGMENT_HEADER_SIZE + name.length;
  const dataStart = tableStart + sections.length * SECTION_ENTRY + 4;
  // Each section starts on an 8-byte boundary (since 1.4), so a reader can view the
  // vectors and graph links of the file's bytes as typed arrays instead of copying them.
  const starts: number[] = [];
  let total = dataStart;
  for (const s of sections) {
    total = align8(total);
    starts.push(total);
    total += s.bytes.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, SEGMENT_MAGIC, true);
  view.setUint16(4, FORMAT_MAJOR, true);
  view.setUint16(6, FORMAT_MINOR, true);
  const header = new ByteWriter(64);
  header.u64(data.segmentId).u32(data.ids.length).u32(data.dimension);
  header.u8(METRIC_CODE[data.metric]).u8(0).u16(name.length).u32(sections.length);
  header.u64(data.minLsn).u64(data.maxLsn);
  out.set(header.finish(), 8);
  out.set(name, SEGMENT_HEADER_SIZE);
  view.setUint32(SEGMENT_HEADER_SIZE - 4, crc32c(out.subarray(0, SEGMENT_HEADER_SIZE - 4)), true);
  for (const [i, s] of sections.entries()) {
    const e = tableStart + i * SECTION_ENTRY;
    const at = starts[i]!;
    let crc = 0;
    for (let from = 0; from < s.bytes.length; from += CRC_STEP) {
      crc = crc32c(s.bytes.subarray(from, from + CRC_STEP), crc);
      yield;
    }
    view.setUint32(e, s.kind, true);
    view.setUint32(e + 4, crc, true);
    view.setUint32(e + 8, at, true);
    view.setUint32(e + 12, 0, true);
    view.setUint32(e + 16, s.bytes.length, true);
    view.setUint32(e + 20, 0, true);
    out.set(s.bytes, at);
  }
  const tableEnd = tableStart + sections.length * SECTION_ENTRY;
  view.setUint32(tableEnd, crc32c(out.subarray(SEGMENT_HEADER_SIZE, tableEnd)), true);
  return out;
}

/**
 * Byte offset of the VECTORS section in a segment file's bytes (which {@link decodeSegment}
 * checked, or {@link encodeSegment} just wrote): where on-disk vectors are read from, slot
 * i's at offset + i × dimension × 4, little-endian f32.
 */
export function vectorsSectionOffset(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { tableStart, count } = tableOf(view);
  for (let i = 0; i < count; i++) {
    const e = tableStart + i * SECTION_ENTRY;
    if (view.getUint32(e, true) === SegmentSection.VECTORS) {
      return view.getUint32(e + 8, true) + view.getUint32(e + 12, true) * 0x1_0000_0000;
    }
  }
  throw new QuiverError(
    'INTERNAL',
    'a checked segment file has no VECTORS section; this is a bug.',
  );
}

/** The fixed header of a segment file (FORMAT.md §5.1), its checksum and version checked. */
interface SegmentHeader {
  readonly segmentId: number;
  readonly slots: number;
  readonly dimension: number;
  readonly metric: MetricName;
  readonly nameLength: number;
  readonly sectionCount: number;
  readonly minLsn: number;
  readonly maxLsn: number;
}

/** One section of the file: where it starts (for error offsets) and its bytes. */
export interface Section {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/**
 * Decodes and checks a segment file: magic, version, header, section table and every
 * section checksum. Any damage is CORRUPT naming `file` and the offset of the bad part.
 */
export function decodeSegment(bytes: Uint8Array, file: string): SegmentData {
  const layout = readSegmentLayout(bytes, file, bytes.length);
  const sections = new Map<number, Section>();
  for (const e of layout.sections) {
    sections.set(e.kind, checkedSection(bytes.subarray(e.offset, e.offset + e.length), e, file));
  }
  const parts = decodeSegmentParts(layout, sections, file);
  const vectorSection = sections.get(SegmentSection.VECTORS)!;
  return { ...parts, vectors: floatsOf(vectorSection.bytes) };
}

/** Where one section lies in its file, and its checksum, as the section table lists them. */
export interface SectionEntry {
  readonly kind: number;
  readonly crc: number;
  readonly offset: number;
  readonly length: number;
}

/** A segment file's checked header, collection name and section table (FORMAT.md §5.1). */
export interface SegmentLayout {
  readonly segmentId: number;
  readonly collection: string;
  readonly slots: number;
  readonly dimension: number;
  readonly metric: MetricName;
  readonly minLsn: number;
  readonly maxLsn: number;
  readonly sections: readonly SectionEntry[];
  /** Where the section table starts (the offset a missing section is reported at). */
  readonly tableStart: number;
}

/**
 * How many bytes from the start of a segment file hold its layout, read from the first
 * SEGMENT_HEADER_SIZE (`head`; its checksum is checked by readSegmentLayout).
 */
export function segmentLayoutBytes(head: Uint8Array): number {
  if (head.length < SEGMENT_HEADER_SIZE) return SEGMENT_HEADER_SIZE;
  const { tableStart, count } = tableOf(
    new DataView(head.buffer, head.byteOffset, head.byteLength),
  );
  return tableStart + Math.min(16, count) * SECTION_ENTRY + 4;
}

/** Where the section table starts and how many entries the header says it has (unchecked). */
function tableOf(view: DataView): { tableStart: number; count: number } {
  const nameLength = view.getUint16(8 + 8 + 4 + 4 + 2, true);
  const count = view.getUint32(8 + 8 + 4 + 4 + 4, true);
  return { tableStart: SEGMENT_HEADER_SIZE + nameLength, count };
}

/**
 * Checks and decodes the start of a segment file (`head`, at least segmentLayoutBytes of
 * it) of `fileSize` bytes: magic, version, header and table checksums, every section
 * inside the file, listed once, and the required ones listed. The sections' own checksums
 * are the reader's to check (checkedSection).
 */
export function readSegmentLayout(head: Uint8Array, file: string, fileSize: number): SegmentLayout {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const header = readHeader(head, view, file);
  const collection = readNameAndTable(head, view, file, header);
  const tableStart = SEGMENT_HEADER_SIZE + header.nameLength;
  const tableEnd = tableStart + header.sectionCount * SECTION_ENTRY;
  const sections: SectionEntry[] = [];
  for (let i = 0; i < header.sectionCount; i++) {
    const e = tableStart + i * SECTION_ENTRY;
    const kind = view.getUint32(e, true);
    const crc = view.getUint32(e + 4, true);
    const offset = view.getUint32(e + 8, true) + view.getUint32(e + 12, true) * 0x1_0000_0000;
    const length = view.getUint32(e + 16, true) + view.getUint32(e + 20, true) * 0x1_0000_0000;
    if (offset < tableEnd + 4 || offset + length > fileSize) {
      throw corrupt(file, e, `segment section ${kind} points outside the file`);
    }
    if (sections.some((s) => s.kind === kind)) {
      throw corrupt(file, e, `segment section ${kind} is listed twice`);
    }
    sections.push({ kind, crc, offset, length });
  }
  for (const kind of REQUIRED_SECTIONS) {
    if (!sections.some((s) => s.kind === kind)) {
      throw corrupt(file, tableStart, `segment section ${kind} is missing`);
    }
  }
  const { segmentId, slots, dimension, metric, minLsn, maxLsn } = header;
  return { segmentId, collection, slots, dimension, metric, minLsn, maxLsn, sections, tableStart };
}

/** A section's bytes as read from the file, once they match the table's checksum. */
export function checkedSection(bytes: Uint8Array, entry: SectionEntry, file: string): Section {
  if (crc32c(bytes) !== entry.crc) {
    throw corrupt(file, entry.offset, `segment section ${entry.kind} checksum mismatch`);
  }
  return { offset: entry.offset, bytes };
}

/** The parts of a segment file besides its vectors: what a segment read without them holds. */
export type SegmentParts = Omit<SegmentData, 'vectors'>;

/** What a sealed segment's table is made of: the external id and payload of each slot. */
export type SegmentSlots = Pick<SegmentData, 'segmentId' | 'ids' | 'payloads'>;

/**
 * Decodes the checked `sections` (by kind) of the file `layout` describes, all but the
 * vectors, whose section must be listed with the size the header gives (its bytes need not
 * be among `sections`: a reader of on-disk vectors checks them as it streams them).
 */
export function decodeSegmentParts(
  layout: SegmentLayout,
  sections: ReadonlyMap<number, Section>,
  file: string,
): SegmentParts {
  const need = (kind: number): Section => {
    const s = sections.get(kind);
    if (s === undefined)
      throw corrupt(file, layout.tableStart, `segment section ${kind} is missing`);
    return s;
  };
  // readSegmentLayout refused a table without it.
  const vectorEntry = layout.sections.find((e) => e.kind === SegmentSection.VECTORS)!;
  const slots = readSlots(file, layout, need(SegmentSection.IDS), need(SegmentSection.PAYLOADS));
  const expected = layout.slots * layout.dimension * 4;
  if (vectorEntry.length !== expected) {
    throw corrupt(
      file,
      vectorEntry.offset,
      `malformed segment section (vector section holds ${vectorEntry.length} bytes, expected ${expected})`,
    );
  }
  const quantSection = sections.get(SegmentSection.QUANT);
  const quant =
    quantSection === undefined
      ? undefined
      : decodeQuantizer(quantSection, file, layout.dimension, slots.ids.length);
  return {
    segmentId: layout.segmentId,
    collection: layout.collection,
    dimension: layout.dimension,
    metric: layout.metric,
    minLsn: layout.minLsn,
    maxLsn: layout.maxLsn,
    ...slots,
    graph: sections.get(SegmentSection.GRAPH)?.bytes,
    quantizer: quant?.quantizer,
    productCodes: quant?.codes,
  };
}

/** Length, magic, header checksum, then the version: a newer major is refused, not corrupt. */
function readHeader(bytes: Uint8Array, view: DataView, file: string): SegmentHeader {
  if (bytes.length < SEGMENT_HEADER_SIZE) {
    throw corrupt(file, 0, `segment file is ${bytes.length} bytes, shorter than its header`);
  }
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) throw corrupt(file, 0, 'bad segment magic');
  if (
    view.getUint32(SEGMENT_HEADER_SIZE - 4, true) !==
    crc32c(bytes.subarray(0, SEGMENT_HEADER_SIZE - 4))
  ) {
    throw corrupt(file, SEGMENT_HEADER_SIZE - 4, 'segment header checksum mismatch');
  }
  const major = view.getUint16(4, true);
  if (major > FORMAT_MAJOR) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${file} uses segment format ${major}.x, newer than this Quiver reads (${FORMAT_MAJOR}.x). Upgrade quiverdb to open this database.`,
      { file, offset: 4, expected: FORMAT_MAJOR, received: major },
    );
  }
  const h = new ByteReader(bytes, 8);
  const segmentId = h.u64();
  const slots = h.u32();
  const dimension = h.u32();
  const metric = METRIC_NAME[h.u8()];
  h.u8();
  const nameLength = h.u16();
  const sectionCount = h.u32();
  const minLsn = h.u64();
  const maxLsn = h.u64();
  if (metric === undefined || sectionCount > 16 || dimension === 0) {
    throw corrupt(file, 8, 'segment header holds impossible values');
  }
  return { segmentId, slots, dimension, metric, nameLength, sectionCount, minLsn, maxLsn };
}

/** Checks the name-and-table checksum, then returns the collection name. */
function readNameAndTable(
  bytes: Uint8Array,
  view: DataView,
  file: string,
  header: SegmentHeader,
): string {
  const tableStart = SEGMENT_HEADER_SIZE + header.nameLength;
  const tableEnd = tableStart + header.sectionCount * SECTION_ENTRY;
  if (tableEnd + 4 > bytes.length)
    throw corrupt(file, tableStart, 'segment section table is truncated');
  if (view.getUint32(tableEnd, true) !== crc32c(bytes.subarray(SEGMENT_HEADER_SIZE, tableEnd))) {
    throw corrupt(file, tableStart, 'segment section table checksum mismatch');
  }
  try {
    return utf8Decode(bytes.subarray(SEGMENT_HEADER_SIZE, tableStart));
  } catch (e) {
    throw corrupt(file, SEGMENT_HEADER_SIZE, 'segment collection name is not UTF-8', e);
  }
}

/** Decodes the per-slot sections; a malformed one is CORRUPT at its offset. */
function readSlots(
  file: string,
  layout: SegmentLayout,
  idsSection: Section,
  payloadSection: Section,
): Pick<SegmentData, 'ids' | 'payloads'> {
  const { slots } = layout;
  const ids: (PointId | undefined)[] = [];
  const payloads: string[] = [];
  let where = idsSection.offset;
  try {
    const r = new ByteReader(idsSection.bytes);
    for (let i = 0; i < slots; i++) {
      ids.push(readPointId(r));
    }
    where = payloadSection.offset;
    const p = new ByteReader(payloadSection.bytes);
    for (let i = 0; i < slots; i++) payloads.push(utf8Decode(p.bytesView(p.u32())));
    return { ids, payloads };
  } catch (e) {
    if (e instanceof QuiverError) throw e;
    const msg =
      e instanceof OutOfBoundsError || e instanceof RangeError || e instanceof TypeError
        ? e.message
        : String(e);
    throw corrupt(file, where, `malformed segment section (${msg})`, e);
  }
}

/**
 * The section's floats. A view of the file's bytes when they sit on a 4-byte boundary of a
 * little-endian host (the common case: no allocation, no copy — at a million points that
 * is 0.5 GB not allocated, faulted in and copied on open; every reader copies the vectors
 * into its index anyway); otherwise a copy.
 */
function floatsOf(bytes: Uint8Array): Float32Array {
  if (HOST_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  }
  return new ByteReader(bytes).f32s(bytes.length / 4);
}
