/**
 * The clean-shutdown mark (docs/FORMAT.md §3): written last by a clean close, removed
 * before the first write after open. While it exists every WAL byte up to the recorded
 * end was durable, so any damage there is corruption, never a torn tail.
 */
import { ByteReader, ByteWriter } from '../common/bytes.js';
import { crc32c } from '../common/crc32c.js';
import { replaceAtomically } from './io/atomic-replace.js';
import type { FileSystem } from './io/file-system.js';
import { CLEAN_MAGIC, CLEAN_MARK_FILE, FORMAT_MAJOR, FORMAT_MINOR } from './format.js';

export interface CleanMark {
  readonly lastLsn: number;
  readonly walSeq: number;
  readonly walOffset: number;
}

const SIZE = 32;

export function encodeCleanMark(m: CleanMark): Uint8Array {
  const w = new ByteWriter(SIZE);
  w.u32(CLEAN_MAGIC).u16(FORMAT_MAJOR).u16(FORMAT_MINOR);
  w.u64(m.lastLsn).u32(m.walSeq).u64(m.walOffset);
  const body = w.finish();
  w.u32(crc32c(body));
  return w.finish().slice();
}

/** Parses a mark; undefined when it is damaged (then the open is treated as unclean). */
export function decodeCleanMark(bytes: Uint8Array): CleanMark | undefined {
  if (bytes.length !== SIZE) return undefined;
  const r = new ByteReader(bytes);
  if (r.u32() !== CLEAN_MAGIC) return undefined;
  r.u16();
  r.u16();
  const lastLsn = r.u64();
  const walSeq = r.u32();
  const walOffset = r.u64();
  if (r.u32() !== crc32c(bytes.subarray(0, SIZE - 4))) return undefined;
  return { lastLsn, walSeq, walOffset };
}

/** Reads the mark of `dir`, or undefined when absent or damaged. */
export async function readCleanMark(fs: FileSystem, dir: string): Promise<CleanMark | undefined> {
  const path = `${dir}/${CLEAN_MARK_FILE}`;
  if (!(await fs.exists(path))) return undefined;
  return decodeCleanMark(await fs.readFile(path));
}

/** Writes the mark atomically (temp, fsync, rename, fsync dir). */
export async function writeCleanMark(fs: FileSystem, dir: string, mark: CleanMark): Promise<void> {
  await fs.failpoint('beforeCleanMarkWrite');
  await replaceAtomically(fs, `${dir}/${CLEAN_MARK_FILE}`, encodeCleanMark(mark));
}

/** Removes the mark durably: from now on the log may have a torn tail again. */
export async function removeCleanMark(fs: FileSystem, dir: string): Promise<void> {
  await fs.unlink(`${dir}/${CLEAN_MARK_FILE}`);
  await fs.unlink(`${dir}/${CLEAN_MARK_FILE}.tmp`);
  await fs.syncDir(dir);
}
