/**
 * Online backup: a writer child process upserts, deletes and updates payloads (sealing and
 * compacting as it goes) while this process takes a full and then an incremental backup.
 * Each backup, restored, must equal the oracle state at the backup's LSN, point by point.
 * Also: a corrupted backup file is named by `backup verify` and refused by restore; prune
 * keeps the base a kept incremental needs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isQuiverError } from '../../src/index.js';
import {
  createBackup,
  listBackups,
  pruneBackups,
  readBackupManifest,
  verifyBackup,
} from '../../src/ops/backup.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { restoreBackup } from '../../src/ops/restore.js';
import { tempDir } from '../helpers/temp-dir.js';
import { applyOps } from './ops-data.js';
import { assertSameState, readAcks, readPoints } from './ops-helpers.js';

const CHILD = new URL('./ops-writer-child.ts', import.meta.url).pathname;

function ackCount(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 2 : 0;
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('backup', () => {
  test('full and incremental backups taken while a writer process runs restore exactly', async (t) => {
    const root = tempDir(t, 'quiver-backup-');
    const db = `${root}/db`;
    const acks = `${db}.acks`;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, '1', '900'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(() => ackCount(acks) >= 250, 'the writer to make progress');
    const full = await createBackup(db, `${root}/b1`);
    await waitFor(() => ackCount(acks) >= 550, 'more writes');
    const inc = await createBackup(db, `${root}/b2`, { base: `${root}/b1`, compress: true });
    assert.equal(await exited, 0, 'the writer finished cleanly');
    const all = readAcks(acks);
    assert.ok(full.lsn.max > 100 && inc.lsn.max > full.lsn.max, 'backups at increasing LSNs');
    console.log(
      `[backup] full: LSN ${full.lsn.max}, ${full.files} files, ${full.storedBytes} bytes, ${full.pinRetries} pin retries; incremental: LSN ${inc.lsn.max}, ${inc.filesStored}/${inc.files} files stored, ${inc.storedBytes} of ${inc.totalBytes} bytes`,
    );
    assert.ok(inc.storedBytes < inc.totalBytes, 'the incremental stores only what is new');
    for (const [b, label] of [
      [full, 'full'],
      [inc, 'incremental'],
    ] as const) {
      const target = `${root}/restore-${label}`;
      const report = await restoreBackup(b.path, target);
      assert.equal(report.verify?.status, 'ok', `${label}: verify after restore`);
      assert.equal(report.lsn, b.lsn.max);
      const expected = applyOps(all.filter((a) => a.lsn <= b.lsn.max));
      assertSameState(await readPoints(target), expected, `${label} backup at LSN ${b.lsn.max}`);
    }
    const v = await verifyBackup(inc.path);
    assert.equal(v.status, 'ok');
    assert.equal(v.chain.length, 2);
  });

  test('a corrupted backup file is named by backup verify and refused by restore', async (t) => {
    const root = tempDir(t, 'quiver-backup-bad-');
    const db = `${root}/db`;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, '1', '200']);
    assert.equal(await new Promise((r) => child.on('exit', r)), 0);
    await createBackup(db, `${root}/b`);
    const m = await readBackupManifest(new NodeFileSystem(), `${root}/b`);
    const victim = m.files.find((f) => f.path.startsWith('segments/') && f.stored !== null);
    assert.ok(victim?.stored, 'the backup holds a segment file');
    const path = `${root}/b/${victim.stored.file}`;
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x40;
    writeFileSync(path, bytes);
    const v = await verifyBackup(`${root}/b`);
    assert.equal(v.status, 'problems');
    assert.ok(
      v.problems.some((p) => p.file === path),
      `verify names ${path}`,
    );
    await assert.rejects(restoreBackup(`${root}/b`, `${root}/r`), (e) => {
      assert.ok(isQuiverError(e, 'CORRUPT'));
      assert.equal(e.details.file, path);
      return true;
    });
    assert.deepEqual(existsSync(`${root}/r`) ? readdirSync(`${root}/r`) : [], []);
    // --force over a live database's directory: the damaged backup is refused before the
    // target loses anything.
    const before = readdirSync(db).sort();
    const points = await readPoints(db);
    await assert.rejects(restoreBackup(`${root}/b`, db, { force: true }), (e) =>
      isQuiverError(e, 'CORRUPT'),
    );
    assert.deepEqual(readdirSync(db).sort(), before);
    assert.deepEqual(await readPoints(db), points);
  });

  test('restore refuses a non-empty target without force; dry run writes nothing', async (t) => {
    const root = tempDir(t, 'quiver-backup-target-');
    const db = `${root}/db`;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, '1', '60']);
    assert.equal(await new Promise((r) => child.on('exit', r)), 0);
    await createBackup(db, `${root}/b`);
    writeFileSync(`${root}/occupied`, 'x');
    const target = `${root}/t`;
    await restoreBackup(`${root}/b`, target);
    await assert.rejects(restoreBackup(`${root}/b`, target), (e) =>
      isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    const dry = await restoreBackup(`${root}/b`, `${root}/dry`, { dryRun: true });
    assert.ok(dry.steps.length >= 4);
    assert.equal(existsSync(`${root}/dry`) ? readdirSync(`${root}/dry`).length : 0, 0);
    const forced = await restoreBackup(`${root}/b`, target, { force: true });
    assert.equal(forced.verify?.status, 'ok');
  });

  test('list and prune: a base needed by a kept incremental is never removed', async (t) => {
    const root = tempDir(t, 'quiver-backup-prune-');
    const db = `${root}/db`;
    const run = async (from: number, to: number): Promise<void> => {
      const child = spawn(process.execPath, [
        '--import',
        'tsx',
        CHILD,
        db,
        String(from),
        String(to),
      ]);
      assert.equal(await new Promise((r) => child.on('exit', r)), 0);
    };
    await run(1, 40);
    await createBackup(db, `${root}/backups/a-full`);
    await run(41, 80);
    await createBackup(db, `${root}/backups/b-full`);
    await run(81, 120);
    await createBackup(db, `${root}/backups/c-inc`, { base: `${root}/backups/b-full` });
    const list = await listBackups(`${root}/backups`);
    assert.deepEqual(
      list.map((b) => b.kind),
      ['full', 'full', 'incremental'],
    );
    const dry = await pruneBackups(`${root}/backups`, { keep: 1, dryRun: true });
    assert.deepEqual(dry.removed, [`${root}/backups/a-full`]);
    assert.deepEqual(dry.keptAsBase, [`${root}/backups/b-full`]);
    assert.ok(existsSync(`${root}/backups/a-full`), 'dry run removes nothing');
    const pruned = await pruneBackups(`${root}/backups`, { keep: 1 });
    assert.deepEqual(pruned.removed, [`${root}/backups/a-full`]);
    assert.equal((await verifyBackup(`${root}/backups/c-inc`)).status, 'ok');
    const old = await pruneBackups(`${root}/backups`, { olderThanMs: 0, now: Date.now() + 60_000 });
    assert.equal(old.removed.length, 2, 'everything older than the cut is removed');
  });
});
