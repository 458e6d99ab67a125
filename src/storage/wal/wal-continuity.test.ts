/**
 * walGaps at its boundaries: a log that reaches exactly to the manifest's replay start and
 * checkpoint has no gap, one LSN short on either side has one, and a clean-shutdown mark
 * must match the log's end in LSN, file and offset. Each case names the file and offset
 * the operator is sent to.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CleanMark } from '../clean-mark.js';
import type { WalScanReport } from './wal-reader.js';
import { walGaps } from './wal-continuity.js';

const DIR = '/db/wal';

/** A scan of two files whose records run from `first` to `last`, ending at (2, 4096). */
function scan(
  first: number | undefined,
  last: number,
  end: WalScanReport['end'] = { seq: 2, offset: 4096 },
): WalScanReport {
  return {
    files: [
      { seq: 1, path: `${DIR}/a.wal`, size: 100 },
      { seq: 2, path: `${DIR}/b.wal`, size: 200 },
    ],
    records: first === undefined ? 0 : last - first + 1,
    lastLsn: last,
    end,
    tornTail: undefined,
    firstLsnBySeq: new Map(),
    firstLsn: first,
  };
}

const kinds = (gaps: readonly { kind: string }[]): string[] => gaps.map((g) => g.kind);

describe('walGaps: the log against the manifest', () => {
  test('a log from the replay start through the checkpoint has no gap', () => {
    assert.deepEqual(
      walGaps(scan(10, 20), { walStartLsn: 10, checkpointLsn: 20 }, undefined, DIR),
      [],
    );
  });

  test('a log starting one LSN after the replay start misses its start, in the first file', () => {
    const gaps = walGaps(scan(11, 20), { walStartLsn: 10, checkpointLsn: 20 }, undefined, DIR);
    assert.deepEqual(kinds(gaps), ['missing-start']);
    assert.equal(gaps[0]!.file, `${DIR}/a.wal`);
    assert.equal(gaps[0]!.offset, 16);
    assert.match(gaps[0]!.what, /starts at LSN 11 .* from LSN 10/);
  });

  test('a log that starts before the replay start is fine (old records are skipped)', () => {
    assert.deepEqual(
      walGaps(scan(5, 20), { walStartLsn: 10, checkpointLsn: 20 }, undefined, DIR),
      [],
    );
  });

  test('an empty log, or one wholly before the replay start, misses no start', () => {
    // Everything before walStartLsn is in segments; a log of only older records is harmless.
    assert.deepEqual(
      walGaps(scan(undefined, 9), { walStartLsn: 10, checkpointLsn: 9 }, undefined, DIR),
      [],
    );
    assert.deepEqual(
      walGaps(scan(3, 9), { walStartLsn: 10, checkpointLsn: 9 }, undefined, DIR),
      [],
    );
  });

  test('a log ending at replay start minus one that starts later is a missing start only if it reaches it', () => {
    // lastLsn = walStartLsn exactly: the start condition's second half is inclusive.
    const gaps = walGaps(scan(11, 10), { walStartLsn: 10, checkpointLsn: 9 }, undefined, DIR);
    assert.deepEqual(kinds(gaps), ['missing-start']);
  });

  test('a log ending one LSN before the checkpoint misses its end, at the end of the last file', () => {
    const gaps = walGaps(scan(10, 19), { walStartLsn: 10, checkpointLsn: 20 }, undefined, DIR);
    assert.deepEqual(kinds(gaps), ['missing-end']);
    assert.equal(gaps[0]!.file, `${DIR}/b.wal`);
    assert.equal(gaps[0]!.offset, 4096);
    assert.match(gaps[0]!.what, /ends at LSN 19 .* at LSN 20/);
  });

  test('a missing end on a log with no end position points at offset 0', () => {
    const s: WalScanReport = { ...scan(10, 19), end: undefined };
    const gaps = walGaps(s, { walStartLsn: 10, checkpointLsn: 20 }, undefined, DIR);
    assert.equal(gaps[0]!.offset, 0);
  });

  test('a manifest whose replay start is past its checkpoint needs no log end', () => {
    // walStartLsn = checkpointLsn + 1: every record is in segments, the WAL may be empty.
    assert.deepEqual(
      walGaps(scan(undefined, 20), { walStartLsn: 21, checkpointLsn: 20 }, undefined, DIR),
      [],
    );
    const gaps = walGaps(
      scan(undefined, 19),
      { walStartLsn: 20, checkpointLsn: 20 },
      undefined,
      DIR,
    );
    assert.deepEqual(kinds(gaps), ['missing-end']);
  });

  test('with no files the directory itself is named', () => {
    const s: WalScanReport = { ...scan(11, 20), files: [] };
    const gaps = walGaps(s, { walStartLsn: 10, checkpointLsn: 25 }, undefined, DIR);
    assert.deepEqual(kinds(gaps), ['missing-start', 'missing-end']);
    assert.ok(gaps.every((g) => g.file === DIR));
  });
});

describe('walGaps: the clean-shutdown mark', () => {
  const manifest = { walStartLsn: 10, checkpointLsn: 15 };
  const mark = (m: Partial<CleanMark>): CleanMark => ({
    lastLsn: 20,
    walSeq: 2,
    walOffset: 4096,
    ...m,
  });

  test('a mark at the log end (LSN, file and offset) matches', () => {
    assert.deepEqual(walGaps(scan(10, 20), manifest, mark({}), DIR), []);
  });

  test('a mark off by one LSN, one file or one byte is a mismatch', () => {
    for (const m of [{ lastLsn: 21 }, { lastLsn: 19 }, { walSeq: 3 }, { walOffset: 4095 }]) {
      const gaps = walGaps(scan(10, 20), manifest, mark(m), DIR);
      assert.deepEqual(kinds(gaps), ['clean-mark-mismatch'], JSON.stringify(m));
      assert.equal(gaps[0]!.file, `${DIR}/b.wal`);
      assert.equal(gaps[0]!.offset, 4096);
    }
  });

  test('the mark is compared with the checkpoint when the log ends before it', () => {
    // Log released up to the checkpoint: the end LSN is the checkpoint's, not the scan's.
    const m = { walStartLsn: 31, checkpointLsn: 30 };
    const released: WalScanReport = { ...scan(undefined, 25), end: undefined };
    assert.deepEqual(walGaps(released, m, mark({ lastLsn: 30 }), DIR), []);
    const gaps = walGaps(released, m, mark({ lastLsn: 29 }), DIR);
    assert.deepEqual(kinds(gaps), ['clean-mark-mismatch']);
    assert.match(
      gaps[0]!.what,
      /ends at LSN 30 .* closed cleanly at LSN 29 \(file 2, offset 4096\)/,
    );
    assert.equal(gaps[0]!.offset, 0);
  });

  test('gaps come in recovery order: start, end, then the mark', () => {
    const gaps = walGaps(scan(12, 14), manifest, mark({}), DIR);
    assert.deepEqual(kinds(gaps), ['missing-start', 'missing-end', 'clean-mark-mismatch']);
  });
});
