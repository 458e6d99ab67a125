/**
 * On-disk format constants: magics, versions, record types and file names.
 * Implements docs/FORMAT.md; change both in the same commit.
 */

/** Format version written by this code. Readers refuse a newer major (FORMAT.md §1). */
export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 0;

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
} as const);
export type WalRecordType = (typeof WalRecordType)[keyof typeof WalRecordType];

export const WAL_DIR = 'wal';
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
