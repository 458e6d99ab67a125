/**
 * The WAL archive's time index and copy: samples collapse per millisecond and thin without
 * ever making a record look earlier than it was; a damaged index reads as empty; an
 * archived file is byte-identical to the original, beside its index; a crash before the
 * archive rename (failpoint midWalArchive) leaves no archived file, and one directory fsync
 * makes the copy and its index durable.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { propertyParams } from '../../../test/helpers/random.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { FaultyFileSystem } from '../../../test/helpers/faulty-file-system.js';
import { armFailpoint, disarmAllFailpoints } from '../io/failpoints.js';
import { NodeFileSystem } from '../io/node-file-system.js';
import {
  WAL_TIMES_SUFFIX,
  addTimeSample,
  archiveWalFile,
  readWalTimes,
  writeWalTimes,
} from './wal-archive.js';

const fs = new NodeFileSystem();

describe('addTimeSample', () => {
  test('samples in one millisecond collapse into the highest LSN', () => {
    const s: [number, number][] = [];
    addTimeSample(s, 5, 100);
    addTimeSample(s, 7, 100);
    addTimeSample(s, 6, 100);
    assert.deepEqual(s, [[7, 100]]);
    addTimeSample(s, 8, 101);
    assert.deepEqual(s, [
      [7, 100],
      [8, 101],
    ]);
  });

  test('a clock that steps back folds into the last sample instead of going back in time', () => {
    const s: [number, number][] = [[7, 100]];
    addTimeSample(s, 9, 99);
    assert.deepEqual(s, [[9, 100]]);
  });

  test('past 65 536 samples every other one is dropped, keeping the later of each pair and the last', () => {
    const s: [number, number][] = [];
    for (let i = 1; i <= 65_536; i++) addTimeSample(s, i, i);
    assert.equal(s.length, 65_536, 'no thinning at the limit');
    addTimeSample(s, 65_537, 65_537);
    assert.equal(s.length, 32_769);
    assert.deepEqual(s[0], [2, 2]);
    assert.deepEqual(s[s.length - 1], [65_537, 65_537]);
  });

  test('property: any record is durable no earlier than the index says (times stay conservative)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 300 }), (steps) => {
        const s: [number, number][] = [];
        let ms = 0;
        steps.forEach((d, i) => {
          ms += d;
          addTimeSample(s, i + 1, ms);
        });
        for (let i = 1; i < s.length; i++) {
          assert.ok(s[i]![0] > s[i - 1]![0] && s[i]![1] > s[i - 1]![1], 'both ascending');
        }
        // Record r was durable at the time of its own sample; the index's first sample with
        // lsn >= r must not claim an earlier time.
        let t = 0;
        steps.forEach((d, i) => {
          t += d;
          const at = s.find(([lsn]) => lsn >= i + 1);
          assert.ok(at !== undefined && at[1] >= t);
        });
      }),
      propertyParams('wal-archive time samples', 200),
    );
  });
});

describe('time index files', () => {
  test('written and read back; missing, damaged or mistyped files read as empty', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    await writeWalTimes(fs, archive, '0001.wal', [
      [3, 10],
      [9, 20],
    ]);
    assert.deepEqual(await readWalTimes(fs, archive, '0001.wal'), [
      [3, 10],
      [9, 20],
    ]);
    assert.deepEqual(await readWalTimes(fs, archive, 'absent.wal'), []);
    writeFileSync(join(archive, `bad.wal${WAL_TIMES_SUFFIX}`), '[[1,2],');
    assert.deepEqual(await readWalTimes(fs, archive, 'bad.wal'), []);
    writeFileSync(join(archive, `obj.wal${WAL_TIMES_SUFFIX}`), '{"a":1}');
    assert.deepEqual(await readWalTimes(fs, archive, 'obj.wal'), []);
    writeFileSync(join(archive, `mixed.wal${WAL_TIMES_SUFFIX}`), '[[1,2],["x",3],[4],5,[6,7]]');
    assert.deepEqual(await readWalTimes(fs, archive, 'mixed.wal'), [
      [1, 2],
      [6, 7],
    ]);
    assert.ok(!existsSync(join(archive, `0001.wal${WAL_TIMES_SUFFIX}.tmp`)), 'no temp file left');
  });

  test('archiveWalFile copies the file unchanged, with its index only when there are samples', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const src = join(dir, '0002.wal');
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    writeFileSync(src, bytes);
    await archiveWalFile(fs, archive, src, '0002.wal', [[4, 40]]);
    assert.deepEqual(readFileSync(join(archive, '0002.wal')), bytes);
    assert.deepEqual(await readWalTimes(fs, archive, '0002.wal'), [[4, 40]]);
    assert.ok(existsSync(src), 'the original stays for the caller to delete');
    assert.ok(!existsSync(join(archive, '0002.wal.tmp')));

    await archiveWalFile(fs, archive, src, '0003.wal', []);
    assert.deepEqual(readFileSync(join(archive, '0003.wal')), bytes);
    assert.ok(!existsSync(join(archive, `0003.wal${WAL_TIMES_SUFFIX}`)));
  });
});

describe('archiveWalFile: crash and durability', () => {
  afterEach(() => disarmAllFailpoints());

  test('a crash at midWalArchive leaves no archived file; the retry archives it whole', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const src = join(dir, '0004.wal');
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    writeFileSync(src, bytes);
    armFailpoint('midWalArchive', () => {
      throw new Error('crash at midWalArchive');
    });
    await assert.rejects(archiveWalFile(fs, archive, src, '0004.wal', [[9, 90]]), /midWalArchive/);
    assert.ok(!existsSync(join(archive, '0004.wal')), 'not under the archive name yet');
    assert.ok(!existsSync(join(archive, `0004.wal${WAL_TIMES_SUFFIX}`)));
    assert.deepEqual(readFileSync(src), bytes, 'the original is untouched');

    disarmAllFailpoints();
    await archiveWalFile(fs, archive, src, '0004.wal', [[9, 90]]);
    assert.deepEqual(readFileSync(join(archive, '0004.wal')), bytes);
    assert.deepEqual(await readWalTimes(fs, archive, '0004.wal'), [[9, 90]]);
  });

  test('after a power loss the archived copy (and its index) are there, made durable by one directory fsync', async (t) => {
    const root = tempDir(t);
    for (const samples of [[[5, 50]], []] as [number, number][][]) {
      const dir = join(root, String(samples.length));
      mkdirSync(dir);
      const archive = join(dir, 'archive');
      const src = join(dir, '0005.wal');
      const bytes = Buffer.from(Array.from({ length: 700 }, (_, i) => i % 13));
      writeFileSync(src, bytes);
      const faulty = new FaultyFileSystem();
      await faulty.mkdirp(archive);
      const synced: string[] = [];
      const sync = faulty.syncDir.bind(faulty);
      faulty.syncDir = async (d: string): Promise<void> => {
        synced.push(d);
        await sync(d);
      };
      await archiveWalFile(faulty, archive, src, '0005.wal', samples);
      faulty.simulatePowerLoss();
      assert.deepEqual(readFileSync(join(archive, '0005.wal')), bytes);
      assert.deepEqual(await readWalTimes(fs, archive, '0005.wal'), samples);
      assert.deepEqual(synced, [archive], `${samples.length} samples: one fsync of the archive`);
    }
  });
});
