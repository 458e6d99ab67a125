/**
 * WAL framing against docs/FORMAT.md §2: the file header and the record frame byte for byte
 * (little-endian, CRC-32C), and how a decoder tells a frame that runs past the end of the
 * data (incomplete: a torn append) from one that is there but wrong (bad: absurd length or
 * checksum mismatch), at offset 0 and deeper in a buffer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32c } from '../../common/crc32c.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  WAL_HEADER_SIZE,
  WAL_MAGIC,
  WAL_MAX_RECORD_BYTES,
  WAL_RECORD_HEADER_SIZE,
} from '../format.js';
import {
  allocateWalBody,
  decodeWalHeader,
  decodeWalRecord,
  encodeWalHeader,
  encodeWalRecord,
} from './wal-record.js';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A header built by hand from the table in FORMAT.md §2.1. */
function handHeader(major: number, minor: number, seq: number): Uint8Array {
  const out = new Uint8Array(WAL_HEADER_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, WAL_MAGIC, true);
  view.setUint16(4, major, true);
  view.setUint16(6, minor, true);
  view.setUint32(8, seq, true);
  view.setUint32(12, crc32c(out.subarray(0, 12)), true);
  return out;
}

describe('WAL file header (FORMAT.md §2.1)', () => {
  test('is magic "QVWL", major, minor, sequence number and CRC-32C of bytes 0..12, little-endian', () => {
    const h = encodeWalHeader(0x01020304);
    assert.equal(h.length, 16);
    assert.equal(hex(h.subarray(0, 4)), '5156574c'); // Q V W L
    assert.deepEqual([...h.subarray(4, 8)], [FORMAT_MAJOR, 0, FORMAT_MINOR, 0]);
    assert.equal(hex(h.subarray(8, 12)), '04030201');
    assert.equal(new DataView(h.buffer).getUint32(12, true), crc32c(h.subarray(0, 12)));
    assert.equal(hex(h), hex(handHeader(FORMAT_MAJOR, FORMAT_MINOR, 0x01020304)));
  });

  test('decodes a hand-built header into its version and sequence number', () => {
    assert.deepEqual(decodeWalHeader(handHeader(1, 7, 0x0a0b0c0d)), {
      kind: 'ok',
      major: 1,
      minor: 7,
      seq: 0x0a0b0c0d,
    });
    // Records after the header do not matter to it.
    const withRecord = concat(handHeader(3, 258, 5), encodeWalRecord(1, 1, new Uint8Array(3)));
    assert.deepEqual(decodeWalHeader(withRecord), { kind: 'ok', major: 3, minor: 258, seq: 5 });
  });

  test('fewer than 16 bytes is an incomplete header; exactly 16 is a whole one', () => {
    const h = encodeWalHeader(9);
    for (let n = 0; n < WAL_HEADER_SIZE; n++) {
      assert.deepEqual(decodeWalHeader(h.subarray(0, n)), { kind: 'incomplete' }, `${n} bytes`);
    }
    assert.equal(decodeWalHeader(h).kind, 'ok');
  });

  test('a wrong magic is "bad magic"; any other damaged byte is a header checksum mismatch', () => {
    for (let i = 0; i < 4; i++) {
      const h = encodeWalHeader(9);
      h[i] = h[i]! ^ 0x20;
      assert.deepEqual(decodeWalHeader(h), { kind: 'bad', reason: 'bad magic' }, `byte ${i}`);
    }
    for (let i = 4; i < WAL_HEADER_SIZE; i++) {
      const h = encodeWalHeader(9);
      h[i] = h[i]! ^ 0x01;
      assert.deepEqual(
        decodeWalHeader(h),
        { kind: 'bad', reason: 'header checksum mismatch' },
        `byte ${i}`,
      );
    }
  });
});

describe('WAL record frame (FORMAT.md §2.2)', () => {
  test('matches the worked example: empty body, LSN 1, type 1', () => {
    assert.equal(
      hex(encodeWalRecord(1, 1, new Uint8Array(0))),
      '00000000' + 'aff00eba' + '0100000000000000' + '01',
    );
  });

  test('frames decode back to back: each result points at the next frame', () => {
    const a = encodeWalRecord(7, 2, new Uint8Array([1, 2, 3]));
    const b = encodeWalRecord(8, 3, new Uint8Array([9]));
    const buf = concat(encodeWalHeader(1), a, b);
    const first = decodeWalRecord(buf, WAL_HEADER_SIZE);
    assert.equal(first.kind, 'record');
    if (first.kind !== 'record') return;
    assert.equal(first.next, WAL_HEADER_SIZE + a.length);
    const second = decodeWalRecord(buf, first.next);
    assert.equal(second.kind, 'record');
    if (second.kind !== 'record') return;
    assert.deepEqual(
      { lsn: second.record.lsn, type: second.record.type, body: [...second.record.body] },
      { lsn: 8, type: 3, body: [9] },
    );
    assert.equal(second.next, buf.length);
  });

  test('a frame cut anywhere is incomplete, at offset 0 and after an earlier frame', () => {
    const earlier = encodeWalRecord(1, 1, new Uint8Array([5, 5, 5, 5, 5]));
    const frame = encodeWalRecord(2, 1, new Uint8Array(10).fill(0xab));
    const buf = concat(earlier, frame);
    for (let n = 0; n < frame.length; n++) {
      assert.deepEqual(decodeWalRecord(frame.subarray(0, n), 0), { kind: 'incomplete' }, `${n}`);
      assert.deepEqual(
        decodeWalRecord(buf.subarray(0, earlier.length + n), earlier.length),
        { kind: 'incomplete' },
        `${n} bytes after the earlier frame`,
      );
    }
    assert.equal(decodeWalRecord(buf, earlier.length).kind, 'record');
  });

  test('a length above 256 MiB is bad at once; exactly 256 MiB is only incomplete in a short buffer', () => {
    const over = new Uint8Array(WAL_RECORD_HEADER_SIZE + 8);
    new DataView(over.buffer).setUint32(0, WAL_MAX_RECORD_BYTES + 1, true);
    assert.deepEqual(decodeWalRecord(over, 0), {
      kind: 'bad',
      reason: `record length ${WAL_MAX_RECORD_BYTES + 1} exceeds the maximum`,
    });
    const max = new Uint8Array(WAL_RECORD_HEADER_SIZE + 8);
    new DataView(max.buffer).setUint32(0, WAL_MAX_RECORD_BYTES, true);
    assert.deepEqual(decodeWalRecord(max, 0), { kind: 'incomplete' });
  });

  test('a damaged checksum, LSN, type or body byte is a record checksum mismatch', () => {
    const frame = encodeWalRecord(0x1_0000_0003, 4, new Uint8Array([1, 2, 3, 4, 5, 6]));
    for (let i = 4; i < frame.length; i++) {
      for (const xor of [0x01, 0x80]) {
        const f = frame.slice();
        f[i] = f[i]! ^ xor;
        assert.deepEqual(
          decodeWalRecord(f, 0),
          { kind: 'bad', reason: 'record checksum mismatch' },
          `byte ${i} ^ ${xor}`,
        );
      }
    }
    // A shorter length field leaves a whole frame of the wrong size: its checksum fails too.
    const shorter = frame.slice();
    shorter[0] = 5;
    assert.deepEqual(decodeWalRecord(shorter, 0), {
      kind: 'bad',
      reason: 'record checksum mismatch',
    });
  });
});

describe('WAL record: bodies with header room are framed in place', () => {
  test('the frame is the same bytes as a copied body’s, over the body’s own buffer', () => {
    const body = allocateWalBody(40).subarray(0, 33);
    for (let i = 0; i < body.length; i++) body[i] = (i * 37) & 0xff;
    const copied = encodeWalRecord(7, 4, body.slice());
    const framed = encodeWalRecord(7, 4, body);
    assert.deepEqual(framed, copied);
    assert.equal(framed.buffer, body.buffer, 'no copy of the body');
  });

  test('framing the same body again writes the new header: each frame decodes to its LSN', () => {
    const body = allocateWalBody(5);
    body.set([1, 2, 3, 4, 5]);
    const first = encodeWalRecord(1, 4, body).slice();
    const second = encodeWalRecord(2 ** 40 + 3, 5, body);
    for (const [frame, lsn, type] of [
      [first, 1, 4],
      [second, 2 ** 40 + 3, 5],
    ] as const) {
      const r = decodeWalRecord(frame, 0);
      assert.equal(r.kind, 'record');
      if (r.kind === 'record') assert.deepEqual([r.record.lsn, r.record.type], [lsn, type]);
    }
  });

  test('a view into another buffer is copied: the bytes in front of it are left alone', () => {
    const shared = new Uint8Array(64).fill(9);
    const body = shared.subarray(WAL_RECORD_HEADER_SIZE, 40);
    const frame = encodeWalRecord(3, 4, body);
    assert.notEqual(frame.buffer, shared.buffer);
    assert.deepEqual(shared, new Uint8Array(64).fill(9));
  });
});
