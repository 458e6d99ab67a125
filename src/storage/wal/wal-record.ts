/**
 * WAL framing (docs/FORMAT.md §2): the file header and the record frame
 * `[length u32][crc u32][lsn u64][type u8][body]`. Pure functions over bytes; no I/O.
 * The crc (CRC-32C) covers the length field and everything after the crc field.
 */
import { crc32c } from '../../common/crc32c.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  WAL_HEADER_SIZE,
  WAL_MAGIC,
  WAL_MAX_RECORD_BYTES,
  WAL_RECORD_HEADER_SIZE,
} from '../format.js';

/** A decoded record. `body` is a view into the buffer it was read from. */
export interface WalRecord {
  readonly lsn: number;
  readonly type: number;
  readonly body: Uint8Array;
}

/**
 * Buffers made by {@link allocateWalBody}: their first WAL_RECORD_HEADER_SIZE bytes are free
 * for the frame header of the body after them. Only these are framed in place; any other
 * body may share its buffer with bytes its owner still needs.
 */
const headroom = new WeakSet<ArrayBuffer>();

/**
 * A zeroed record body of `length` bytes with room for its frame header in front, so
 * {@link encodeWalRecord} frames it without copying the body (a shorter prefix of it,
 * `subarray(0, n)`, keeps that room).
 */
export function allocateWalBody(length: number): Uint8Array {
  const frame = new Uint8Array(WAL_RECORD_HEADER_SIZE + length);
  headroom.add(frame.buffer);
  return frame.subarray(WAL_RECORD_HEADER_SIZE);
}

/**
 * Encodes one record frame. A body from {@link allocateWalBody} is framed in place (the
 * frame is a view over its buffer, valid until the body is framed again); any other body
 * is copied behind a new header.
 */
export function encodeWalRecord(lsn: number, type: number, body: Uint8Array): Uint8Array {
  const out = frameAround(body);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, body.length, true);
  view.setUint32(8, lsn % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(lsn / 0x1_0000_0000), true);
  view.setUint8(16, type);
  view.setUint32(4, frameCrc(out, 0, body.length), true);
  return out;
}

/** The frame's bytes: the body's own buffer when it has header room, else a copy. */
function frameAround(body: Uint8Array): Uint8Array {
  if (body.byteOffset === WAL_RECORD_HEADER_SIZE && headroom.has(body.buffer as ArrayBuffer)) {
    return new Uint8Array(body.buffer, 0, WAL_RECORD_HEADER_SIZE + body.length);
  }
  const out = new Uint8Array(WAL_RECORD_HEADER_SIZE + body.length);
  out.set(body, WAL_RECORD_HEADER_SIZE);
  return out;
}

function frameCrc(buf: Uint8Array, offset: number, bodyLength: number): number {
  const head = crc32c(buf.subarray(offset, offset + 4));
  return crc32c(buf.subarray(offset + 8, offset + WAL_RECORD_HEADER_SIZE + bodyLength), head);
}

/** Outcome of decoding at one offset. */
export type DecodeResult =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly next: number }
  /** Fewer bytes than a whole frame remain: the frame runs past the end of the data. */
  | { readonly kind: 'incomplete' }
  /** A whole frame is there but its length is absurd or its checksum does not match. */
  | { readonly kind: 'bad'; readonly reason: string };

/** Decodes the frame starting at `offset` of `buf`. */
export function decodeWalRecord(buf: Uint8Array, offset: number): DecodeResult {
  if (buf.length - offset < WAL_RECORD_HEADER_SIZE) return { kind: 'incomplete' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = view.getUint32(offset, true);
  if (length > WAL_MAX_RECORD_BYTES) {
    return { kind: 'bad', reason: `record length ${length} exceeds the maximum` };
  }
  if (buf.length - offset < WAL_RECORD_HEADER_SIZE + length) return { kind: 'incomplete' };
  const crc = view.getUint32(offset + 4, true);
  if (frameCrc(buf, offset, length) !== crc) {
    return { kind: 'bad', reason: 'record checksum mismatch' };
  }
  const lsn = view.getUint32(offset + 12, true) * 0x1_0000_0000 + view.getUint32(offset + 8, true);
  const type = view.getUint8(offset + 16);
  const start = offset + WAL_RECORD_HEADER_SIZE;
  return {
    kind: 'record',
    record: { lsn, type, body: buf.subarray(start, start + length) },
    next: start + length,
  };
}

/** Encodes a WAL file header for file sequence `seq`. */
export function encodeWalHeader(seq: number): Uint8Array {
  const out = new Uint8Array(WAL_HEADER_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, WAL_MAGIC, true);
  view.setUint16(4, FORMAT_MAJOR, true);
  view.setUint16(6, FORMAT_MINOR, true);
  view.setUint32(8, seq, true);
  view.setUint32(12, crc32c(out.subarray(0, 12)), true);
  return out;
}

export type HeaderResult =
  | { readonly kind: 'ok'; readonly seq: number; readonly major: number; readonly minor: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'bad'; readonly reason: string };

/** Checks a WAL file header. */
export function decodeWalHeader(buf: Uint8Array): HeaderResult {
  if (buf.length < WAL_HEADER_SIZE) return { kind: 'incomplete' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== WAL_MAGIC) return { kind: 'bad', reason: 'bad magic' };
  if (view.getUint32(12, true) !== crc32c(buf.subarray(0, 12))) {
    return { kind: 'bad', reason: 'header checksum mismatch' };
  }
  return {
    kind: 'ok',
    major: view.getUint16(4, true),
    minor: view.getUint16(6, true),
    seq: view.getUint32(8, true),
  };
}
