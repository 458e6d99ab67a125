/**
 * WalWriter across files: rotation at the target size, release() of the files whose records
 * all precede an LSN (never the current file, durably, in order), the WAL archive that
 * release() fills (an unchanged copy and a time index that never claims a record durable
 * before it was), the time index of live files kept across a clean close, and resume() of an
 * existing log (continuing in its last file, cutting a torn tail, knowing each file's first
 * LSN so release() stays exact after a reopen).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Logger } from '../../common/logger.js';
import { SILENT_LOGGER } from '../../common/logger.js';
import { isQuiverError } from '../../common/quiver-error.js';
import { FaultyFileSystem } from '../../../test/helpers/faulty-file-system.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { armFailpoint } from '../io/failpoints.js';
import type { FileSystem } from '../io/file-system.js';
import { NodeFileSystem } from '../io/node-file-system.js';
import { walFileName } from '../format.js';
import { scanWal } from './wal-reader.js';
import { encodeWalHeader } from './wal-record.js';
import type { WalWriterOptions } from './wal-writer.js';
import { WalWriter } from './wal-writer.js';

const body = (n: number): Uint8Array => new Uint8Array([n & 255, (n >> 8) & 255, 7, 7]);
/** One record of `body(n)` is 21 bytes, a file header 16: two records fill a file. */
const RECORD = 21;
const HEADER = 16;
const TARGET = HEADER + 2 * RECORD;
const name = (seq: number): string => walFileName(seq);

function options(
  fs: FileSystem,
  dir: string,
  extra: Partial<WalWriterOptions> = {},
): WalWriterOptions {
  return { fs, dir, policy: 'always', logger: SILENT_LOGGER, fileTargetBytes: TARGET, ...extra };
}

async function resumeWriter(
  fs: FileSystem,
  dir: string,
  extra: Partial<WalWriterOptions> = {},
): Promise<WalWriter> {
  const scan = await scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined });
  return WalWriter.resume(options(fs, dir, extra), scan, scan.lastLsn);
}

async function walFiles(fs: FileSystem, dir: string): Promise<string[]> {
  return (await fs.list(dir)).filter((n) => n.endsWith('.wal'));
}

async function diskBytes(fs: FileSystem, dir: string): Promise<number> {
  let total = 0;
  for (const n of await walFiles(fs, dir)) total += await fs.fileSize(`${dir}/${n}`);
  return total;
}

async function lsnsOf(fs: FileSystem, dir: string): Promise<number[]> {
  const lsns: number[] = [];
  await scanWal(fs, dir, { cleanlyClosed: false, onRecord: (r) => lsns.push(r.lsn) });
  return lsns;
}

/** Appends `n` records one after another (one batch each); returns their LSNs. */
async function appendEach(w: WalWriter, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await w.append(3, body(i)));
  return out;
}

function warnings(): Logger & { readonly warned: object[] } {
  const warned: object[] = [];
  return { ...SILENT_LOGGER, warned, warn: (obj: object) => void warned.push(obj) };
}

describe('WalWriter: rotation and release', () => {
  test('a file is sealed once it reaches the target size, not before', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir), undefined);
    await appendEach(w, 2);
    assert.equal(await fs.fileSize(`${dir}/${name(1)}`), TARGET);
    assert.equal(w.position().seq, 1, 'exactly at the target: still file 1');
    await w.append(3, body(3));
    assert.deepEqual(w.position(), { seq: 2, offset: HEADER + RECORD, lastLsn: 3 });
    assert.deepEqual(await walFiles(fs, dir), [name(1), name(2)]);
    assert.equal(w.stats().currentFile, `${dir}/${name(2)}`);
    assert.equal(w.stats().bytes, await diskBytes(fs, dir));
    await w.close();
  });

  test('release deletes exactly the files whose records all precede beforeLsn, never the current one', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await WalWriter.open(options(fs, dir), undefined);
    // Files 1: [1, 2], 2: [3, 4], 3: [5, 6], 4: [7] (current).
    assert.deepEqual(await appendEach(w, 7), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(w.stats().bytes, await diskBytes(fs, dir));
    assert.deepEqual(await w.release(2), [], 'record 2 is still needed');
    assert.deepEqual(await w.release(3), [`${dir}/${name(1)}`]);
    assert.equal(w.stats().bytes, await diskBytes(fs, dir));
    assert.deepEqual(await w.release(100), [`${dir}/${name(2)}`, `${dir}/${name(3)}`]);
    assert.equal(w.stats().bytes, HEADER + RECORD);
    // The deletions are durable: a power loss does not bring the files back.
    fs.simulatePowerLoss();
    assert.deepEqual(await walFiles(fs, dir), [name(4)]);
    assert.deepEqual(await lsnsOf(fs, dir), [7]);
    assert.deepEqual(await w.release(100), [], 'the current file stays');
    await w.close();
  });

  test('the beforeWalRelease failpoint stops a release before it deletes anything', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir), undefined);
    await appendEach(w, 3);
    const disarm = armFailpoint('beforeWalRelease', () => {
      throw new Error('crash before release');
    });
    t.after(disarm);
    await assert.rejects(w.release(100), /crash before release/);
    disarm();
    assert.deepEqual(await walFiles(fs, dir), [name(1), name(2)]);
    assert.deepEqual(await w.release(100), [`${dir}/${name(1)}`]);
    await w.close();
  });

  test('a rotation that cannot create the next file stops the writer', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir), undefined);
    await appendEach(w, 2);
    writeFileSync(`${dir}/${name(2)}`, 'in the way');
    await assert.rejects(w.append(3, body(3)), (e: unknown) => {
      assert.ok(isQuiverError(e, 'UNAVAILABLE'));
      assert.match(e.message, /stopped accepting writes/);
      assert.equal(e.details.file, `${dir}/${name(2)}`);
      return true;
    });
    assert.equal(w.stats().broken, true);
    await w.close().catch(() => undefined);
    rmSync(`${dir}/${name(2)}`);
    assert.deepEqual(await lsnsOf(fs, dir), [1, 2]);
  });
});

describe('WalWriter: resume', () => {
  test('resuming where there is no log yet starts file 1 after the given LSN', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const scan = await scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined });
    // A checkpoint can put the database's last LSN past an empty log.
    const w = await WalWriter.resume(options(fs, dir), scan, 41);
    assert.deepEqual(w.position(), { seq: 1, offset: HEADER, lastLsn: 41 });
    assert.equal(await w.append(3, body(1)), 42);
    await w.close();
    assert.deepEqual(await lsnsOf(fs, dir), [42]);
  });

  test('continues in the last file; release after a reopen knows every file’s first LSN', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir), undefined);
    await appendEach(w, 5); // 1: [1, 2], 2: [3, 4], 3: [5]
    await w.close();
    const w2 = await resumeWriter(fs, dir);
    assert.deepEqual(w2.position(), { seq: 3, offset: HEADER + RECORD, lastLsn: 5 });
    assert.equal(w2.stats().bytes, await diskBytes(fs, dir));
    assert.equal(await w2.append(3, body(6)), 6);
    assert.equal(w2.position().seq, 3);
    assert.deepEqual(await w2.release(2), []);
    assert.deepEqual(await w2.release(3), [`${dir}/${name(1)}`]);
    assert.deepEqual(await w2.release(5), [`${dir}/${name(2)}`]);
    assert.equal(w2.stats().bytes, await diskBytes(fs, dir));
    assert.deepEqual(await w2.release(100), []);
    await w2.close();
    assert.deepEqual(await lsnsOf(fs, dir), [5, 6]);
  });

  test('a file followed by an empty last file is released once all the log is below beforeLsn', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await WalWriter.open(options(fs, dir, { fileTargetBytes: 1 << 20 }), undefined);
    await appendEach(w, 3);
    await w.close();
    // A crash right after a rotation: file 2 has its header and nothing else.
    writeFileSync(`${dir}/${name(2)}`, encodeWalHeader(2));
    const writes = fs.writes;
    const w2 = await resumeWriter(fs, dir);
    assert.equal(fs.writes, writes, 'reopening rewrites nothing');
    assert.deepEqual(w2.position(), { seq: 2, offset: HEADER, lastLsn: 3 });
    assert.deepEqual(await w2.release(3), [], 'record 3 is still needed');
    assert.deepEqual(await w2.release(4), [`${dir}/${name(1)}`]);
    assert.equal(await w2.append(3, body(4)), 4);
    await w2.close();
    assert.deepEqual(await lsnsOf(fs, dir), [4]);
  });

  test('a torn tail is cut at reopen, and only then does afterTornTailTruncate fire', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    let fired = 0;
    const disarm = armFailpoint('afterTornTailTruncate', () => void fired++);
    t.after(disarm);
    const w = await WalWriter.open(options(fs, dir), undefined);
    await appendEach(w, 3);
    await w.close();
    await (await resumeWriter(fs, dir)).close();
    assert.equal(fired, 0, 'a clean log has no tail to cut');
    appendFileSync(`${dir}/${name(2)}`, new Uint8Array(10).fill(9));
    const w2 = await resumeWriter(fs, dir);
    assert.equal(fired, 1);
    disarm();
    assert.equal(await fs.fileSize(`${dir}/${name(2)}`), HEADER + RECORD);
    assert.equal(await w2.append(3, body(4)), 4);
    await w2.close();
    assert.deepEqual(await lsnsOf(fs, dir), [1, 2, 3, 4]);
  });
});

describe('WalWriter: WAL archive', () => {
  /** The archived time index of a file, as stored. */
  function timesOf(archive: string, seq: number): unknown {
    return JSON.parse(readFileSync(`${archive}/${name(seq)}.times.json`, 'utf8'));
  }

  /** Every sample is an [lsn, ms] pair, both ascending, and no record looks durable before its append began. */
  function checkTimes(times: unknown, began: Map<number, number>, lastLsn: number): void {
    assert.ok(Array.isArray(times));
    let prev: [number, number] = [0, 0];
    for (const s of times as unknown[]) {
      assert.ok(Array.isArray(s) && s.length === 2);
      const [lsn, ms] = s as [unknown, unknown];
      assert.ok(typeof lsn === 'number' && typeof ms === 'number');
      assert.ok(lsn > prev[0] && ms > prev[1], `samples ascend: ${JSON.stringify(times)}`);
      assert.ok(ms >= (began.get(lsn) ?? Infinity), `record ${lsn} durable before its append`);
      prev = [lsn, ms];
    }
    assert.equal(prev[0], lastLsn, 'the last sample covers the file’s last record');
  }

  test('release copies each file unchanged into the archive with a time index, then deletes it', async (t) => {
    const dir = tempDir(t);
    const archive = `${dir}/archive`;
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir, { archiveDir: archive }), undefined);
    const began = new Map<number, number>();
    for (let i = 1; i <= 5; i++) {
      began.set(i, Date.now());
      await w.append(3, body(i));
      await new Promise((r) => setTimeout(r, 3));
    }
    const file1 = readFileSync(`${dir}/${name(1)}`);
    assert.deepEqual(await w.release(3), [`${dir}/${name(1)}`]);
    assert.deepEqual(readFileSync(`${archive}/${name(1)}`), file1);
    const times = timesOf(archive, 1);
    checkTimes(times, began, 2);
    assert.equal((times as unknown[]).length, 2, 'one sample per millisecond with a record');
    assert.deepEqual(await walFiles(fs, dir), [name(2), name(3)]);
    await w.close();
  });

  test('the afterWalArchive failpoint: the copy is archived, the original not yet deleted', async (t) => {
    const dir = tempDir(t);
    const archive = `${dir}/archive`;
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir, { archiveDir: archive }), undefined);
    await appendEach(w, 3);
    const disarm = armFailpoint('afterWalArchive', () => {
      throw new Error('crash after archive');
    });
    t.after(disarm);
    await assert.rejects(w.release(3), /crash after archive/);
    disarm();
    assert.ok(await fs.exists(`${archive}/${name(1)}`));
    assert.ok(await fs.exists(`${dir}/${name(1)}`));
    await w.close();
  });

  test('the time index of live files survives a clean close and reopen', async (t) => {
    const dir = tempDir(t);
    const archive = `${dir}/archive`;
    const fs = new NodeFileSystem();
    const began = new Map<number, number>();
    const w = await WalWriter.open(options(fs, dir, { archiveDir: archive }), undefined);
    for (let i = 1; i <= 3; i++) {
      began.set(i, Date.now());
      await w.append(3, body(i));
    }
    await w.close();
    assert.ok(await fs.exists(`${archive}/${name(2)}.times.json`), 'close saved the index');
    const firstSession = timesOf(archive, 2);
    const w2 = await resumeWriter(fs, dir, { archiveDir: archive });
    await new Promise((r) => setTimeout(r, 3));
    for (let i = 4; i <= 5; i++) {
      began.set(i, Date.now());
      await w2.append(3, body(i));
    }
    assert.deepEqual(await w2.release(5), [`${dir}/${name(1)}`, `${dir}/${name(2)}`]);
    const times = timesOf(archive, 2);
    checkTimes(times, began, 4);
    assert.deepEqual(
      (times as unknown[])[0],
      (firstSession as unknown[])[0],
      'the first session’s sample is kept',
    );
    await w2.close();
  });

  test('a file with no time index (written without an archive) is archived without one', async (t) => {
    const dir = tempDir(t);
    const archive = `${dir}/archive`;
    const fs = new NodeFileSystem();
    const w = await WalWriter.open(options(fs, dir), undefined);
    await appendEach(w, 3);
    await w.close();
    const w2 = await resumeWriter(fs, dir, { archiveDir: archive });
    assert.deepEqual(await w2.release(3), [`${dir}/${name(1)}`]);
    assert.deepEqual(await fs.list(archive), [name(1)]);
    await w2.close();
  });

  test('close still closes when the time index cannot be saved, and says so', async (t) => {
    const dir = tempDir(t);
    const archive = `${dir}/archive`;
    const fs = new NodeFileSystem();
    const logger = warnings();
    const w = await WalWriter.open(options(fs, dir, { archiveDir: archive, logger }), undefined);
    await appendEach(w, 1);
    mkdirSync(dir, { recursive: true });
    writeFileSync(archive, 'not a directory');
    await w.close();
    assert.equal(logger.warned.length, 1);
    await assert.rejects(w.append(3, body(2)), (e: unknown) => isQuiverError(e, 'CLOSED'));
  });
});
