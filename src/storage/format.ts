/**
 * On-disk format constants: magics, versions, record types and file names.
 * Implements docs/FORMAT.md; change both in the same commit.
 */

/** Format version written by this code. Readers refuse a newer major (FORMAT.md §1). */
export const FORMAT_MAJOR = 1;
/**
 * 1.1 added a collection's `createdAt` (CREATE_COLLECTION record and manifest); 1.2 the
 * SWAP_COLLECTION record and a manifest segment's `collection` (the name in its header);
 * 1.3 a segment's GRAPH without vectors (HNSW blob major 2: they are the VECTORS section's);
 * 1.4 segment sections on 8-byte boundaries (readers view vectors and links in place);
 * 1.5 a segment's QUANT section (the trained int8 quantizer; readers of 1.4 ignore it);
 * 1.6 a binary quantizer in the QUANT section (kind 2) and binary collection configs;
 * 1.7 a collection config's `onDisk: true` (vectors read from the segment files) and the
 * UPDATE_COLLECTION record (a collection's quantization or onDisk changed);
 * 1.8 the REPLACE record (ids deleted and points upserted in one write).
 */
export const FORMAT_MINOR = 8;

/** WAL file header (FORMAT.md §2.1): magic "QVWL". */
export const WAL_MAGIC = 0x4c575651;
export const WAL_HEADER_SIZE = 16;
/** Record header: length u32, crc u32, lsn u64, type u8 (FORMAT.md §2.2). */
export const WAL_RECORD_HEADER_SIZE = 17;
/** Largest record body accepted; anything longer is damage. */
export const WAL_MAX_RECORD_BYTES = 256 * 1024 * 1024;
/** A WAL file is rotated once it passes this size. */
export const WAL_FILE_TARGET_BYTES = 64 * 1024 * 1024;

/** WAL record types (FORMAT.md §2.3). */
export const WalRecordType = Object.freeze({
  CREATE_COLLECTION: 1,
  DROP_COLLECTION: 2,
  UPSERT: 3,
  DELETE: 4,
  PAYLOAD: 5,
  /** Since 1.2: a staging collection replaces another in one step (FORMAT.md §2.3). */
  SWAP_COLLECTION: 6,
  /** Since 1.7: a collection's new config (quantization, onDisk) (FORMAT.md §2.3). */
  UPDATE_COLLECTION: 7,
  /** Since 1.8: ids deleted and points upserted in one record (FORMAT.md §2.3). */
  REPLACE: 8,
} as const);
export type WalRecordType = (typeof WalRecordType)[keyof typeof WalRecordType];

export const WAL_DIR = 'wal';
export const SEGMENT_DIR = 'segments';
export const MANIFEST_FILE = 'MANIFEST';

/** Sealed segment file (FORMAT.md §5): magic "QVSG". */
export const SEGMENT_MAGIC = 0x47535651;
export const SEGMENT_HEADER_SIZE = 64;
/** Section kinds inside a segment file (FORMAT.md §5.2). */
export const SegmentSection = Object.freeze({
  IDS: 1,
  PAYLOADS: 2,
  VECTORS: 3,
  GRAPH: 4,
  /** Since 1.5: the trained quantizer (FORMAT.md §5.3; binary since 1.6). */
  QUANT: 5,
} as const);

/** Tombstone file (FORMAT.md §6): magic "QVTB". */
export const TOMBSTONE_MAGIC = 0x42545651;
/** Manifest (FORMAT.md §7): magic "QVMF". */
export const MANIFEST_MAGIC = 0x464d5651;

/** Segment file name: "seg-" + 16 digits + ".qseg". */
export function segmentFileName(id: number): string {
  return `seg-${String(id).padStart(16, '0')}.qseg`;
}

/** Tombstone file name of a segment, one per generation. */
export function tombstoneFileName(id: number, generation: number): string {
  return `seg-${String(id).padStart(16, '0')}.${String(generation).padStart(8, '0')}.tomb`;
}
export const LOCK_FILE = 'LOCK';
export const CLEAN_MARK_FILE = 'CLEAN';
/** Clean-shutdown mark (FORMAT.md §3): magic "QVCL". */
export const CLEAN_MAGIC = 0x4c435651;

/** WAL file name for a sequence number: 16 decimal digits + ".wal". */
export function walFileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.wal`;
}

/** The sequence number of a WAL file name, or undefined when it is not one. */
export function parseWalFileName(name: string): number | undefined {
  const m = /^(\d{16})\.wal$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}
