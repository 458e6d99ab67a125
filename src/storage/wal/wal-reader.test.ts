/**
 * Property tests of WAL framing and damage classification: random record sequences,
 * random truncations and random byte flips, scanned back from a real file. Then the scan
 * report case by case (docs/FORMAT.md §2.4): which files are read, LSN continuity across
 * them, fromLsn skipping, torn tail vs corruption with its file, offset, dropped bytes and
 * the reason the CORRUPT message gives, stopAtDamage, and LSNs past 2^32.
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
import type { WalScanOptions, WalScanReport } from './wal-reader.js';
import { listWalFiles, scanWal } from './wal-reader.js';

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
      (e: unknown) => {
        assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'));
        assert.match(e.message, /uses WAL format 9\.\d+, newer than this Quiver reads \(1\.x\)/);
        assert.match(e.message, /Upgrade/);
        const file = `${dir}/${walFileName(1)}`;
        assert.deepEqual(e.details, { file, offset: 4, expected: 1, received: 9 });
        return true;
      },
    );
    assert.ok(readFileSync(`${dir}/${walFileName(1)}`).length > 0);
  });
});

/** One record frame per LSN; the body names the LSN so copies are recognisable. */
function frame(lsn: number, body: Uint8Array = new Uint8Array([lsn % 256, 7])): Uint8Array {
  return encodeWalRecord(lsn, 1, body);
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

/** A WAL file image: header for `seq`, then `frames`; with the offset of each frame. */
function walFile(seq: number, frames: Uint8Array[]): { bytes: Uint8Array; offsets: number[] } {
  const offsets: number[] = [];
  let at = WAL_HEADER_SIZE;
  for (const f of frames) {
    offsets.push(at);
    at += f.length;
  }
  return { bytes: concat(encodeWalHeader(seq), ...frames), offsets };
}

interface Seen {
  lsn: number;
  file: string;
  offset: number;
}

/** Writes `files` (seq → bytes) into `dir` and scans it. */
async function scanFiles(
  dir: string,
  files: ReadonlyMap<number, Uint8Array>,
  options: Partial<Omit<WalScanOptions, 'onRecord'>> = {},
): Promise<{ seen: Seen[]; report: WalScanReport }> {
  mkdirSync(dir, { recursive: true });
  for (const [seq, bytes] of files) writeFileSync(path(dir, seq), bytes);
  const seen: Seen[] = [];
  const report = await scanWal(fs, dir, {
    cleanlyClosed: false,
    ...options,
    onRecord: (r, file, offset) => seen.push({ lsn: r.lsn, file, offset }),
  });
  return { seen, report };
}

function path(dir: string, seq: number): string {
  return `${dir}/${walFileName(seq)}`;
}

/** Asserts `p` rejects with CORRUPT at `file`/`offset` and a message matching `message`. */
async function rejectsCorrupt(
  p: Promise<unknown>,
  file: string,
  offset: number,
  message: RegExp,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isQuiverError(e, 'CORRUPT'), String(e));
    assert.deepEqual(e.details, { file, offset });
    assert.match(e.message, message);
    return true;
  });
}

describe('scanWal: files and LSNs', () => {
  test('reads only WAL files, in sequence order, with LSNs continuing across files', async (t) => {
    const dir = tempDir(t);
    const one = walFile(1, [frame(1), frame(2), frame(3)]);
    const two = walFile(2, [frame(4), frame(5)]);
    mkdirSync(dir, { recursive: true });
    // Neighbours a WAL directory may hold: none of them is a WAL file.
    writeFileSync(`${dir}/${walFileName(3)}.tmp`, new Uint8Array([1, 2, 3]));
    writeFileSync(`${dir}/${walFileName(1)}.times.json`, '[[3,10]]');
    writeFileSync(`${dir}/1.wal`, encodeWalHeader(1));
    writeFileSync(`${dir}/CLEAN`, new Uint8Array(32));
    const { seen, report } = await scanFiles(
      dir,
      new Map([
        [1, one.bytes],
        [2, two.bytes],
      ]),
    );
    const expectedFiles = [
      { seq: 1, path: path(dir, 1), size: one.bytes.length },
      { seq: 2, path: path(dir, 2), size: two.bytes.length },
    ];
    assert.deepEqual(await listWalFiles(fs, dir), expectedFiles);
    assert.deepEqual(report.files, expectedFiles);
    assert.deepEqual(seen, [
      ...one.offsets.map((offset, i) => ({ lsn: i + 1, file: path(dir, 1), offset })),
      ...two.offsets.map((offset, i) => ({ lsn: i + 4, file: path(dir, 2), offset })),
    ]);
    assert.equal(report.records, 5);
    assert.equal(report.lastLsn, 5);
    assert.equal(report.firstLsn, 1);
    assert.deepEqual(
      [...report.firstLsnBySeq],
      [
        [1, 1],
        [2, 4],
      ],
    );
    assert.deepEqual(report.end, { seq: 2, offset: two.bytes.length });
    assert.equal(report.tornTail, undefined);
  });

  test('records before fromLsn are checked for continuity but not handed on', async (t) => {
    const dir = tempDir(t);
    const { seen, report } = await scanFiles(
      dir,
      new Map([
        [4, walFile(4, [frame(11), frame(12), frame(13)]).bytes],
        [5, walFile(5, [frame(14), frame(15)]).bytes],
      ]),
      { fromLsn: 13 },
    );
    assert.deepEqual(
      seen.map((s) => s.lsn),
      [13, 14, 15],
    );
    assert.equal(report.records, 3);
    assert.equal(report.lastLsn, 15);
    assert.equal(report.firstLsn, 11, 'the first record in the log, handed on or not');
    assert.deepEqual(
      [...report.firstLsnBySeq],
      [
        [4, 11],
        [5, 14],
      ],
    );
  });

  test('a log with no records ends at fromLsn - 1, after the header of its last file', async (t) => {
    const root = tempDir(t);
    const empty = await scanFiles(`${root}/a`, new Map([[3, walFile(3, []).bytes]]), {
      fromLsn: 10,
    });
    assert.equal(empty.report.lastLsn, 9);
    assert.equal(empty.report.records, 0);
    assert.equal(empty.report.firstLsn, undefined);
    assert.equal(empty.report.firstLsnBySeq.size, 0);
    assert.deepEqual(empty.report.end, { seq: 3, offset: WAL_HEADER_SIZE });

    const none = await scanFiles(`${root}/b`, new Map());
    assert.equal(none.report.lastLsn, 0);
    assert.equal(none.report.end, undefined);
    assert.deepEqual(none.report.files, []);
  });

  test('LSNs past 2^32 keep their sequence and their damage classification', async (t) => {
    const root = tempDir(t);
    const base = 2 ** 32;
    const frames = [frame(base + 1), frame(base + 2), frame(base + 3), frame(base + 4)];
    const good = await scanFiles(`${root}/good`, new Map([[1, walFile(1, frames).bytes]]));
    assert.deepEqual(
      good.seen.map((s) => s.lsn),
      [base + 1, base + 2, base + 3, base + 4],
    );
    assert.equal(good.report.lastLsn, base + 4);

    // Damage in the second record: the intact records after it (LSN 2^32 + 3, + 4) make it
    // corruption even in the last file of a log that was not closed cleanly.
    const { bytes, offsets } = walFile(1, frames);
    bytes[offsets[1]! + WAL_RECORD_BODY_AT] = bytes[offsets[1]! + WAL_RECORD_BODY_AT]! ^ 1;
    const dir = `${root}/flipped`;
    await rejectsCorrupt(
      scanFiles(dir, new Map([[1, bytes]])),
      path(dir, 1),
      offsets[1]!,
      /^WAL record checksum mismatch \(not a torn tail: intact records follow it\)/,
    );
  });
});

/** Offset of the body in a frame (the 17-byte record header precedes it). */
const WAL_RECORD_BODY_AT = 17;

describe('scanWal: torn tail', () => {
  test('a last record cut short is a torn tail: file, offset, dropped bytes and reason', async (t) => {
    const dir = tempDir(t);
    const { bytes, offsets } = walFile(1, [frame(1), frame(2), frame(3, new Uint8Array(40))]);
    const cut = bytes.subarray(0, offsets[2]! + 30);
    const { seen, report } = await scanFiles(dir, new Map([[1, cut]]));
    assert.deepEqual(
      seen.map((s) => s.lsn),
      [1, 2],
    );
    assert.deepEqual(report.tornTail, {
      file: path(dir, 1),
      offset: offsets[2],
      droppedBytes: 30,
      reason: 'record runs past the end of the file',
      kind: 'torn-tail',
    });
    assert.deepEqual(report.end, { seq: 1, offset: offsets[2] });
    assert.equal(report.lastLsn, 2);
  });

  test('a last record with a damaged byte is a torn tail with a checksum reason', async (t) => {
    const dir = tempDir(t);
    const { bytes, offsets } = walFile(1, [frame(1), frame(2)]);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x40;
    const { report } = await scanFiles(dir, new Map([[1, bytes]]));
    assert.deepEqual(report.tornTail, {
      file: path(dir, 1),
      offset: offsets[1],
      droppedBytes: bytes.length - offsets[1]!,
      reason: 'record checksum mismatch',
      kind: 'torn-tail',
    });
  });

  test('a last record whose LSN skips ahead, with nothing after it, is a torn tail', async (t) => {
    const dir = tempDir(t);
    const { bytes, offsets } = walFile(1, [frame(1), frame(2), frame(3), frame(5)]);
    const { seen, report } = await scanFiles(dir, new Map([[1, bytes]]));
    assert.deepEqual(
      seen.map((s) => s.lsn),
      [1, 2, 3],
    );
    assert.equal(report.tornTail?.offset, offsets[3]);
    assert.equal(report.tornTail?.reason, 'LSN 5 breaks the sequence (expected 4)');
    assert.equal(report.tornTail?.kind, 'torn-tail');
    assert.equal(report.lastLsn, 3);
  });

  test('a torn header of a new last file is a torn tail at offset 0 of that file', async (t) => {
    const root = tempDir(t);
    const one = walFile(1, [frame(1), frame(2)]).bytes;
    const badMagic = encodeWalHeader(2);
    badMagic[0] = 0;
    const badCrc = encodeWalHeader(2);
    badCrc[13] = badCrc[13]! ^ 1;
    const cases: [string, Uint8Array, string][] = [
      ['short', encodeWalHeader(2).subarray(0, 7), 'incomplete file header'],
      ['magic', badMagic, 'bad magic'],
      ['crc', badCrc, 'header checksum mismatch'],
    ];
    for (const [name, header, reason] of cases) {
      const dir = `${root}/${name}`;
      const { seen, report } = await scanFiles(
        dir,
        new Map([
          [1, one],
          [2, header],
        ]),
      );
      assert.deepEqual(
        seen.map((s) => s.lsn),
        [1, 2],
        name,
      );
      assert.deepEqual(
        report.tornTail,
        { file: path(dir, 2), offset: 0, droppedBytes: header.length, reason, kind: 'torn-tail' },
        name,
      );
      assert.deepEqual(report.end, { seq: 2, offset: 0 }, `${name}: the header is rewritten`);
      assert.equal(report.lastLsn, 2, name);
    }
  });

  test('after the damage, only an intact record with a later LSN makes it corruption', async (t) => {
    // The torn last record's body holds bytes that look like frames: an exact copy of the
    // previous record, an older one, one absurdly far ahead, one with a later LSN but a bad
    // checksum. None of them is a later intact record of this log.
    const root = tempDir(t);
    const brokenNext = frame(4);
    brokenNext[WAL_RECORD_BODY_AT] = brokenNext[WAL_RECORD_BODY_AT]! ^ 1;
    const lookalikes: [string, Uint8Array][] = [
      ['copy of the last intact record', frame(3)],
      ['older record', frame(1)],
      ['far ahead', frame(3 + 100_000_001)],
      ['later LSN, bad checksum', brokenNext],
    ];
    for (const [name, inside] of lookalikes) {
      const body = concat(new Uint8Array(5).fill(0xee), inside, new Uint8Array(20));
      const { bytes, offsets } = walFile(1, [frame(1), frame(2), frame(3), frame(4, body)]);
      const dir = `${root}/${lookalikes.findIndex(([n]) => n === name)}`;
      const cut = bytes.subarray(0, bytes.length - 10);
      const { report } = await scanFiles(dir, new Map([[1, cut]]));
      assert.equal(report.tornTail?.kind, 'torn-tail', name);
      assert.equal(report.tornTail?.offset, offsets[3], name);
    }
    // A whole later record inside the torn one: that is an intact record after the damage.
    const body = concat(new Uint8Array(5).fill(0xee), frame(4), new Uint8Array(20));
    const { bytes, offsets } = walFile(1, [frame(1), frame(2), frame(3), frame(4, body)]);
    const dir = `${root}/later`;
    await rejectsCorrupt(
      scanFiles(dir, new Map([[1, bytes.subarray(0, bytes.length - 10)]])),
      path(dir, 1),
      offsets[3]!,
      /^WAL record runs past the end of the file \(not a torn tail: intact records follow it\)/,
    );
  });
});

describe('scanWal: corruption', () => {
  test('damage in a file that is not the last is CORRUPT: later WAL files follow it', async (t) => {
    const root = tempDir(t);
    const one = walFile(1, [frame(1), frame(2, new Uint8Array(30))]);
    const two = walFile(2, [frame(3)]).bytes;
    let dir = `${root}/record`;
    await rejectsCorrupt(
      scanFiles(
        dir,
        new Map([
          [1, one.bytes.subarray(0, one.bytes.length - 5)],
          [2, two],
        ]),
      ),
      path(dir, 1),
      one.offsets[1]!,
      /^WAL record runs past the end of the file \(not a torn tail: later WAL files follow it\) in .* at offset \d+/,
    );
    dir = `${root}/header`;
    const badMagic = one.bytes.slice();
    badMagic[1] = 0;
    await rejectsCorrupt(
      scanFiles(
        dir,
        new Map([
          [1, badMagic],
          [2, two],
        ]),
      ),
      path(dir, 1),
      0,
      /^WAL bad magic \(not a torn tail: later WAL files follow it\)/,
    );
  });

  test('after a clean close even a cut last record is CORRUPT: the whole log was durable', async (t) => {
    const dir = tempDir(t);
    const { bytes, offsets } = walFile(1, [frame(1), frame(2)]);
    await rejectsCorrupt(
      scanFiles(dir, new Map([[1, bytes.subarray(0, bytes.length - 1)]]), {
        cleanlyClosed: true,
      }),
      path(dir, 1),
      offsets[1]!,
      /^WAL record runs past the end of the file \(not a torn tail: the database was closed cleanly, so the whole log was durable\)/,
    );
  });

  test('an LSN that breaks the sequence is CORRUPT when intact records follow, within or across files', async (t) => {
    const root = tempDir(t);
    let dir = `${root}/within`;
    const within = walFile(1, [frame(1), frame(2), frame(4), frame(5)]);
    await rejectsCorrupt(
      scanFiles(dir, new Map([[1, within.bytes]])),
      path(dir, 1),
      within.offsets[2]!,
      /^WAL LSN 4 breaks the sequence \(expected 3\) \(not a torn tail: intact records follow it\)/,
    );
    dir = `${root}/across`;
    await rejectsCorrupt(
      scanFiles(
        dir,
        new Map([
          [1, walFile(1, [frame(1), frame(2), frame(3)]).bytes],
          [2, walFile(2, [frame(5), frame(6)]).bytes],
        ]),
      ),
      path(dir, 2),
      WAL_HEADER_SIZE,
      /^WAL LSN 5 breaks the sequence \(expected 4\)/,
    );
  });

  test('a header whose sequence number differs from the file name is CORRUPT at offset 8', async (t) => {
    const dir = tempDir(t);
    // File 0…02.wal holding the header of file 1 (a copied or renamed file).
    await rejectsCorrupt(
      scanFiles(dir, new Map([[2, walFile(1, [frame(1)]).bytes]])),
      path(dir, 2),
      8,
      /^WAL header sequence 1 does not match file name/,
    );
  });
});

describe('scanWal: stopAtDamage (wal recover)', () => {
  test('corruption is reported instead of thrown, and the scan ends there: later files are not read', async (t) => {
    const root = tempDir(t);
    const one = walFile(1, [frame(1), frame(2), frame(3)]);
    const flipped = one.bytes.slice();
    flipped[one.offsets[1]! + WAL_RECORD_BODY_AT] =
      flipped[one.offsets[1]! + WAL_RECORD_BODY_AT]! ^ 1;
    let dir = `${root}/checksum`;
    let { seen, report } = await scanFiles(
      dir,
      new Map([
        [1, flipped],
        [2, walFile(2, [frame(4), frame(5)]).bytes],
      ]),
      { stopAtDamage: true },
    );
    assert.deepEqual(
      seen.map((s) => s.lsn),
      [1],
    );
    assert.deepEqual(report.tornTail, {
      file: path(dir, 1),
      offset: one.offsets[1],
      droppedBytes: flipped.length - one.offsets[1]!,
      reason: 'record checksum mismatch',
      kind: 'corruption',
    });
    assert.equal(report.lastLsn, 1);
    assert.equal(report.records, 1);
    assert.deepEqual(report.end, { seq: 1, offset: one.offsets[1] });
    assert.deepEqual([...report.firstLsnBySeq], [[1, 1]]);

    // An LSN break ends the scan the same way, even though the next file would continue
    // the sequence from before the break.
    dir = `${root}/lsn`;
    const broken = walFile(1, [frame(1), frame(2), frame(7)]);
    ({ seen, report } = await scanFiles(
      dir,
      new Map([
        [1, broken.bytes],
        [2, walFile(2, [frame(3), frame(4)]).bytes],
      ]),
      { stopAtDamage: true },
    ));
    assert.deepEqual(
      seen.map((s) => s.lsn),
      [1, 2],
    );
    assert.equal(report.tornTail?.file, path(dir, 1));
    assert.equal(report.tornTail?.offset, broken.offsets[2]);
    assert.equal(report.tornTail?.reason, 'LSN 7 breaks the sequence (expected 3)');
    assert.equal(report.tornTail?.kind, 'corruption');
    assert.equal(report.lastLsn, 2);
    assert.deepEqual(report.end, { seq: 1, offset: broken.offsets[2] });
  });

  test('a real torn tail keeps its kind under stopAtDamage', async (t) => {
    const dir = tempDir(t);
    const { bytes } = walFile(1, [frame(1), frame(2)]);
    const { report } = await scanFiles(dir, new Map([[1, bytes.subarray(0, bytes.length - 1)]]), {
      stopAtDamage: true,
    });
    assert.equal(report.tornTail?.kind, 'torn-tail');
  });
});
