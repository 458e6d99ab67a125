/**
 * Property tests of WAL framing and damage classification: random record sequences,
 * random truncations and random byte flips, scanned back from a real file.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isQuiverError } from '../../common/quiver-error.js';
import { NodeFileSystem } from '../io/node-file-system.js';
import { WAL_HEADER_SIZE, walFileName } from '../format.js';
import { propertyParams } from '../../../test/helpers/random.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { encodeWalHeader, encodeWalRecord, decodeWalRecord } from './wal-record.js';
import { scanWal } from './wal-reader.js';

const fs = new NodeFileSystem();

interface Rec {
  type: number;
  body: Uint8Array;
}

const recordArb = fc
  .record({
    type: fc.integer({ min: 1, max: 4 }),
    body: fc.uint8Array({ minLength: 0, maxLength: 200 }),
  })
  .map((r): Rec => ({ type: r.type, body: r.body }));

/** Lays out records in one WAL file image; returns the bytes and each record's offset. */
function image(records: Rec[]): { bytes: Uint8Array; offsets: number[] } {
  const parts: Uint8Array[] = [encodeWalHeader(1)];
  const offsets: number[] = [];
  let at = WAL_HEADER_SIZE;
  records.forEach((r, i) => {
    const frame = encodeWalRecord(i + 1, r.type, r.body);
    offsets.push(at);
    parts.push(frame);
    at += frame.length;
  });
  const bytes = new Uint8Array(at);
  let p = 0;
  for (const part of parts) {
    bytes.set(part, p);
    p += part.length;
  }
  return { bytes, offsets };
}

async function scanImage(
  dir: string,
  bytes: Uint8Array,
  cleanlyClosed: boolean,
): Promise<{ got: Rec[]; result: Awaited<ReturnType<typeof scanWal>> | Error }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/${walFileName(1)}`, bytes);
  const got: Rec[] = [];
  try {
    const result = await scanWal(fs, dir, {
      cleanlyClosed,
      onRecord: (r) => got.push({ type: r.type, body: r.body.slice() }),
    });
    return { got, result };
  } catch (e) {
    return { got, result: e as Error };
  }
}

describe('WAL framing', () => {
  test('encode/decode round-trips any record', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 53 - 1 }), recordArb, (lsn, r) => {
        const frame = encodeWalRecord(lsn, r.type, r.body);
        const d = decodeWalRecord(frame, 0);
        assert.equal(d.kind, 'record');
        if (d.kind !== 'record') return;
        assert.equal(d.record.lsn, lsn);
        assert.equal(d.record.type, r.type);
        assert.deepEqual(d.record.body, r.body);
        assert.equal(d.next, frame.length);
      }),
      propertyParams('wal frame round-trip', 1000),
    );
  });

  test('a truncated log replays exactly the whole records before the cut (torn tail)', async (t) => {
    const root = tempDir(t);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (records, cutAt) => {
          const { bytes, offsets } = image(records);
          const cut = Math.floor(cutAt * bytes.length);
          const dir = `${root}/${run++}`;
          const { got, result } = await scanImage(dir, bytes.subarray(0, cut), false);
          assert.ok(!(result instanceof Error), 'unexpected error');
          const whole = offsets.filter((o, i) => o + 17 + records[i]!.body.length <= cut).length;
          assert.equal(got.length, whole);
          got.forEach((g, i) => assert.deepEqual(g, records[i]));
          const boundary =
            cut === bytes.length ||
            cut === WAL_HEADER_SIZE ||
            (whole > 0 && offsets[whole - 1]! + 17 + records[whole - 1]!.body.length === cut);
          if (boundary) assert.equal(result.tornTail, undefined);
          else assert.notEqual(result.tornTail, undefined);
        },
      ),
      propertyParams('wal truncation', 300),
    );
  });

  test('a flipped byte is a torn tail only in the last record, otherwise CORRUPT naming file and offset', async (t) => {
    const root = tempDir(t);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 10 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        async (records, where, xor, clean) => {
          const { bytes, offsets } = image(records);
          const pos = Math.floor(where * bytes.length);
          const damaged = bytes.slice();
          damaged[pos] = damaged[pos]! ^ xor;
          const dir = `${root}/${run++}`;
          const { got, result } = await scanImage(dir, damaged, clean);
          // Index of the record holding the flipped byte; -1 = the file header.
          let j = -1;
          for (let i = 0; i < offsets.length; i++) if (offsets[i]! <= pos) j = i;
          const before = Math.max(0, j);
          assert.equal(got.length, before, 'records before the damage are all replayed');
          got.forEach((g, i) => assert.deepEqual(g, records[i]));
          const isTail = !clean && j === records.length - 1;
          if (isTail) {
            assert.ok(!(result instanceof Error), 'expected a torn tail');
            assert.equal(result.tornTail?.offset, offsets[j]);
          } else {
            assert.ok(isQuiverError(result, 'CORRUPT'), 'expected CORRUPT');
            assert.equal(result.details.file, `${dir}/${walFileName(1)}`);
            assert.equal(result.details.offset, j === -1 ? 0 : offsets[j]);
            assert.match(result.message, /offset/);
          }
        },
      ),
      propertyParams('wal byte flips', 500),
    );
  });

  test('a file written by a newer major format is refused with a clear message', async (t) => {
    const dir = tempDir(t);
    const { bytes } = image([{ type: 1, body: new Uint8Array([1, 2]) }]);
    const newer = bytes.slice();
    newer[4] = 9;
    // Recompute the header checksum so only the version differs.
    const header = encodeWalHeader(1);
    const view = new DataView(header.buffer);
    view.setUint16(4, 9, true);
    const { crc32c } = await import('../../common/crc32c.js');
    view.setUint32(12, crc32c(header.subarray(0, 12)), true);
    newer.set(header, 0);
    writeFileSync(`${dir}/${walFileName(1)}`, newer);
    await assert.rejects(
      scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined }),
      (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT') && /Upgrade/.test(e.message),
    );
    assert.ok(readFileSync(`${dir}/${walFileName(1)}`).length > 0);
  });
});
