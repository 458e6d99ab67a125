/**
 * A shard archive file: a copy of a shard stream's messages, in stream order, as a cluster
 * backup stores them (cluster-backup.ts; docs/FORMAT.md §10). Each record keeps the
 * message's stream sequence and the time JetStream stored it, so a restore can stop at a
 * point in time, and a CRC-32C, so a damaged byte is found before anything is replayed.
 * The body is the message as published: a WAL record type and body (shard-log.ts).
 *
 * Layout: a 16-byte header (magic `QVSA`, u16 major and minor version, u32 shard, u32
 * CRC-32C of those 12 bytes), then records of u32 body length, u32 CRC-32C (of the 16
 * bytes that follow and the body), u64 sequence, u64 milliseconds since the epoch, body.
 * Numbers are little-endian; u64 values are below 2^53 (FORMAT.md §1).
 */
import { crc32c } from '../common/crc32c.js';
import { QuiverError } from '../common/quiver-error.js';
import type { FileHandle, FileSystem } from '../storage/io/file-system.js';

/** "QVSA" read as a little-endian u32. */
const MAGIC = 0x41535651;
const MAJOR = 1;
const MINOR = 0;
const HEADER = 16;
const RECORD_HEAD = 24;
/** Bytes gathered before a write, and read at a time. */
const CHUNK = 1 << 20;
/** A message larger than this is not one NATS would carry (its max_payload is 1 MiB to 64 MiB). */
const MAX_BODY = 64 << 20;

export interface ArchivedMessage {
  readonly seq: number;
  /** When the stream stored it, in milliseconds since the epoch. */
  readonly timeMs: number;
  readonly data: Uint8Array;
}

/** Appends records to a file opened by the caller, buffering into large writes. */
export class ShardArchiveWriter {
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private position = HEADER;
  records = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly shard: number,
  ) {}

  /** Writes the header of a new archive of `shard` into `file`. */
  static async start(file: FileHandle, shard: number): Promise<ShardArchiveWriter> {
    const w = new ShardArchiveWriter(file, shard);
    const head = new Uint8Array(HEADER);
    const view = new DataView(head.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint16(4, MAJOR, true);
    view.setUint16(6, MINOR, true);
    view.setUint32(8, w.shard, true);
    view.setUint32(12, crc32c(head.subarray(0, 12)), true);
    await file.write(head, 0);
    return w;
  }

  async append(m: ArchivedMessage): Promise<void> {
    const rec = new Uint8Array(RECORD_HEAD + m.data.length);
    const view = new DataView(rec.buffer);
    view.setUint32(0, m.data.length, true);
    view.setBigUint64(8, BigInt(m.seq), true);
    view.setBigUint64(16, BigInt(Math.floor(m.timeMs)), true);
    rec.set(m.data, RECORD_HEAD);
    view.setUint32(4, crc32c(rec.subarray(8)), true);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
    this.records++;
    if (this.pendingBytes >= CHUNK) await this.flush();
  }

  /** Writes what is buffered; returns the file's length. The caller fsyncs and closes. */
  async finish(): Promise<number> {
    await this.flush();
    return this.position;
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const out = new Uint8Array(this.pendingBytes);
    let at = 0;
    for (const p of this.pending) {
      out.set(p, at);
      at += p.length;
    }
    await this.file.write(out, this.position);
    this.position += out.length;
    this.pending.length = 0;
    this.pendingBytes = 0;
  }
}

/**
 * Reads the archive at `path` of `shard` record by record, checking the header, each CRC
 * and that sequences rise by one from the first. CORRUPT names the file and offset.
 */
export async function* readShardArchive(
  fs: FileSystem,
  path: string,
  shard: number,
): AsyncGenerator<ArchivedMessage> {
  const file = await fs.open(path, 'read');
  try {
    const size = await file.size();
    const reader = new ChunkReader(file, size);
    checkHeader(await reader.take(0, HEADER), path, shard);
    let at = HEADER;
    let previous: number | undefined;
    while (at < size) {
      const head = await reader.take(at, RECORD_HEAD);
      const view = new DataView(head.buffer, head.byteOffset, head.length);
      const length = view.getUint32(0, true);
      if (length > MAX_BODY || at + RECORD_HEAD + length > size) {
        throw damaged(path, at, `a record of ${length} bytes runs past the end (${size} bytes)`);
      }
      const rec = await reader.take(at, RECORD_HEAD + length);
      if (crc32c(rec.subarray(8)) !== view.getUint32(4, true)) {
        throw damaged(path, at, 'the record checksum does not match');
      }
      const seq = Number(view.getBigUint64(8, true));
      if (
        seq < 1 ||
        !Number.isSafeInteger(seq) ||
        (previous !== undefined && seq !== previous + 1)
      ) {
        throw damaged(path, at, `sequence ${seq} does not follow ${previous ?? 'the start'}`);
      }
      previous = seq;
      yield { seq, timeMs: Number(view.getBigUint64(16, true)), data: rec.slice(RECORD_HEAD) };
      at += RECORD_HEAD + length;
    }
  } finally {
    await file.close();
  }
}

function checkHeader(head: Uint8Array, path: string, shard: number): void {
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  if (view.getUint32(0, true) !== MAGIC) {
    throw damaged(path, 0, 'it does not start with QVSA (not a shard archive)');
  }
  if (crc32c(head.subarray(0, 12)) !== view.getUint32(12, true)) {
    throw damaged(path, 12, 'the header checksum does not match');
  }
  const major = view.getUint16(4, true);
  if (major > MAJOR) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Shard archive ${path} uses format ${major}.x, newer than this Quiver reads (${MAJOR}.x). Upgrade quiverdb to restore this backup.`,
      { file: path, offset: 4 },
    );
  }
  if (view.getUint32(8, true) !== shard) {
    throw damaged(path, 8, `it holds shard ${view.getUint32(8, true)}, not shard ${shard}`);
  }
}

function damaged(path: string, offset: number, what: string): QuiverError {
  return new QuiverError(
    'CORRUPT',
    `Shard archive ${path} is damaged at offset ${offset}: ${what}. Restore from another backup; quiver backup verify checks every file of one.`,
    { file: path, offset },
  );
}

/** Sequential reads of a file through one buffer of at least {@link CHUNK} bytes. */
class ChunkReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private start = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly size: number,
  ) {}

  /** The `length` bytes at `position` (a view that the next call may replace). */
  async take(position: number, length: number): Promise<Uint8Array> {
    const end = position + length;
    if (position < this.start || end > this.start + this.buffer.length) {
      const want = Math.min(Math.max(length, CHUNK), this.size - position);
      this.buffer = await this.file.read(position, want);
      this.start = position;
      if (this.buffer.length < length) {
        throw damaged(this.file.path, position, `the file ends after ${this.buffer.length} bytes`);
      }
    }
    return this.buffer.subarray(position - this.start, end - this.start);
  }
}
