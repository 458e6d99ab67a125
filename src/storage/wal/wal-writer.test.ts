/**
 * WalWriter: group commit, fsync policies, and faults injected through the FileSystem
 * layer — a torn write, a failed write (disk full), a lost fsync followed by power loss.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../common/logger.js';
import { isQuiverError } from '../../common/quiver-error.js';
import { FaultyFileSystem } from '../../../test/helpers/faulty-file-system.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import type { FileSystem } from '../io/file-system.js';
import { NodeFileSystem } from '../io/node-file-system.js';
import type { FsyncPolicy } from './log.js';
import { scanWal } from './wal-reader.js';
import { WalWriter } from './wal-writer.js';

const body = (n: number): Uint8Array => new Uint8Array([n & 255, (n >> 8) & 255, 7, 7]);

async function openWriter(fs: FileSystem, dir: string, policy: FsyncPolicy): Promise<WalWriter> {
  const scan = await scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined });
  return WalWriter.open(
    { fs, dir, policy, logger: SILENT_LOGGER },
    scan.end === undefined ? undefined : { ...scan.end, lastLsn: scan.lastLsn },
  );
}

async function replay(fs: FileSystem, dir: string): Promise<{ lsns: number[]; torn: boolean }> {
  const lsns: number[] = [];
  const r = await scanWal(fs, dir, {
    cleanlyClosed: false,
    onRecord: (rec) => lsns.push(rec.lsn),
  });
  return { lsns, torn: r.tornTail !== undefined };
}

describe('WalWriter', () => {
  for (const policy of ['always', 'batch', 'periodic', 'none'] as const) {
    test(`policy ${policy}: records come back in order with their LSNs, apply runs in order`, async (t) => {
      const dir = tempDir(t);
      const fs = new NodeFileSystem();
      const w = await openWriter(fs, dir, policy);
      const applied: number[] = [];
      const lsns = await Promise.all(
        Array.from({ length: 50 }, (_, i) => w.append(3, body(i), (lsn) => applied.push(lsn))),
      );
      assert.deepEqual(
        lsns,
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(applied, lsns);
      await w.close();
      const w2 = await openWriter(fs, dir, policy);
      assert.equal(await w2.append(3, body(99)), 51);
      await w2.close();
      assert.deepEqual(
        (await replay(fs, dir)).lsns,
        Array.from({ length: 51 }, (_, i) => i + 1),
      );
    });
  }

  test('group commit: concurrent writers share fsyncs', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    const before = fs.syncs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => w.append(3, body(i))));
    const used = fs.syncs - before;
    assert.ok(used < 200, `200 concurrent appends used ${used} fsyncs`);
    assert.ok(used >= 1);
    await w.close();
  });

  test('a torn write (crash mid-append) is cut at reopen; acknowledged records survive', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    for (let i = 0; i < 5; i++) await w.append(3, body(i));
    // The next write tears: half its bytes reach the file, then the "process dies".
    fs.plan = { tearWriteAt: fs.writes + 1 };
    await assert.rejects(w.append(3, new Uint8Array(1000)));
    // Simulate the crash: no truncation happened if the process died, so re-add the half.
    const scanned = await replay(fs, dir);
    assert.deepEqual(scanned.lsns, [1, 2, 3, 4, 5]);
    const fs2 = new NodeFileSystem();
    const w2 = await openWriter(fs2, dir, 'always');
    assert.equal(await w2.append(3, body(6)), 6);
    await w2.close();
    assert.deepEqual((await replay(fs2, dir)).lsns, [1, 2, 3, 4, 5, 6]);
    // The "dead" writer's file is still open in this process: close it, not the GC.
    await w.close().catch(() => undefined);
  });

  test('a torn tail left on disk by a killed process is reported, then truncated', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    for (let i = 0; i < 3; i++) await w.append(3, body(i));
    // Tear the next write and make the cut fail too, as when the process is killed.
    fs.plan = { tearWriteAt: fs.writes + 1 };
    await assert.rejects(w.append(3, new Uint8Array(4000)));
    await w.close().catch(() => undefined);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(`${dir}/0000000000000001.wal`, new Uint8Array(123).fill(9));
    const r = await replay(new NodeFileSystem(), dir);
    assert.deepEqual(r.lsns, [1, 2, 3]);
    assert.equal(r.torn, true);
    const w2 = await openWriter(new NodeFileSystem(), dir, 'always');
    await w2.append(3, body(4));
    await w2.close();
    const r2 = await replay(new NodeFileSystem(), dir);
    assert.deepEqual(r2.lsns, [1, 2, 3, 4]);
    assert.equal(r2.torn, false);
  });

  test('disk full: the failed append is rejected with NO_SPACE, nothing is lost, writes resume', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'batch');
    for (let i = 0; i < 4; i++) await w.append(3, body(i));
    fs.plan = { failWriteAt: fs.writes + 1, sticky: true };
    await assert.rejects(w.append(3, body(100)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    await assert.rejects(w.append(3, body(101)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    fs.heal();
    assert.equal(await w.append(3, body(5)), 5, 'no LSN gap after the failures');
    await w.close();
    assert.deepEqual((await replay(fs, dir)).lsns, [1, 2, 3, 4, 5]);
  });

  test('a lost fsync then power loss leaves a clean prefix, never corruption', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    for (let i = 0; i < 3; i++) await w.append(3, body(i));
    fs.plan = { loseFsyncs: true };
    for (let i = 3; i < 8; i++) await w.append(3, body(i));
    fs.simulatePowerLoss();
    const r = await replay(fs, dir);
    // The disk lied: the records after the lost fsyncs are gone, the rest is intact.
    assert.deepEqual(r.lsns, [1, 2, 3]);
    const w2 = await openWriter(new NodeFileSystem(), dir, 'always');
    assert.equal(await w2.append(3, body(9)), 4);
    await w2.close();
    await w.close().catch(() => undefined);
  });

  test('a failed fsync stops the writer (UNAVAILABLE) instead of pretending', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    await w.append(3, body(1));
    fs.plan = { failSyncs: true };
    await assert.rejects(w.append(3, body(2)), (e: unknown) => isQuiverError(e, 'UNAVAILABLE'));
    fs.plan = {};
    assert.equal(w.stats().broken, true);
    await assert.rejects(w.append(3, body(3)), (e: unknown) => isQuiverError(e, 'UNAVAILABLE'));
    await w.close().catch(() => undefined);
  });

  test('rotation: files roll over at the target size and replay spans them', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const scan0 = await scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined });
    assert.equal(scan0.end, undefined);
    const w = await WalWriter.open(
      { fs, dir, policy: 'none', logger: SILENT_LOGGER, fileTargetBytes: 200 },
      undefined,
    );
    for (let i = 0; i < 40; i++) await w.append(3, body(i));
    await w.close();
    assert.ok((await fs.list(dir)).length > 3);
    assert.deepEqual(
      (await replay(fs, dir)).lsns,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  });
});
