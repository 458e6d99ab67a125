/**
 * Point-in-time recovery: a database with a WAL archive is written in phases (with
 * checkpoints, so WAL files are released into the archive); the LSN and time after each
 * phase are noted. A backup taken after the first phase, restored to each phase's LSN (and
 * to one phase's time) with the archive, must equal the oracle state of that phase.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { isQuiverError, Quiver } from '../../src/index.js';
import { createBackup } from '../../src/ops/backup.js';
import { restoreBackup } from '../../src/ops/restore.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { Op } from './ops-data.js';
import { applyOps, COLLECTION, DIM, opAt, writeOp } from './ops-data.js';
import { assertSameState, readPoints } from './ops-helpers.js';

test('restore to the LSN or time of each phase with the WAL archive', async (t) => {
  const root = tempDir(t, 'quiver-pitr-');
  const dir = `${root}/db`;
  const archive = `${root}/archive`;
  const db = await Quiver.open(dir, {
    sealPoints: 40,
    maxSegments: 3,
    walFileBytes: 4 * 1024,
    walArchiveDir: archive,
  });
  const c = await db.createCollection(COLLECTION, { dimension: DIM, metric: 'euclid' });
  const done: { lsn: number; op: Op }[] = [];
  const phases: { lsn: number; time: number; count: number }[] = [];
  let n = 1;
  const runPhase = async (ops: number): Promise<void> => {
    for (let i = 0; i < ops; i++, n++) {
      const op = opAt(n);
      const r = await writeOp(c, op);
      done.push({ lsn: r.lsn, op });
    }
    await db.idle();
    phases.push({ lsn: db.stats().wal.lastLsn, time: Date.now(), count: done.length });
    await new Promise((r) => setTimeout(r, 15));
  };
  await runPhase(60);
  const backup = await createBackup(dir, `${root}/base`);
  for (let p = 0; p < 4; p++) {
    await runPhase(80);
    if (p % 2 === 0) await db.checkpoint();
  }
  await db.close();
  assert.ok(
    readdirSync(archive).some((f) => f.endsWith('.wal')),
    'released WAL files were archived',
  );
  const sources = [archive, `${dir}/wal`];
  for (const [i, phase] of phases.entries()) {
    const target = `${root}/r-lsn-${i}`;
    const report = await restoreBackup(backup.path, target, {
      toLsn: phase.lsn,
      walArchives: sources,
    });
    assert.equal(report.verify?.status, 'ok', `phase ${i}: verify`);
    assert.equal(report.lsn, phase.lsn);
    const expected = applyOps(done.slice(0, phase.count));
    assertSameState(await readPoints(target), expected, `phase ${i} (LSN ${phase.lsn})`);
  }
  const p2 = phases[2]!;
  const byTime = await restoreBackup(backup.path, `${root}/r-time`, {
    toTime: new Date(p2.time),
    walArchives: sources,
  });
  assert.equal(byTime.lsnSource, 'to-time');
  assert.equal(byTime.lsn, p2.lsn, 'the time resolves to the last LSN of its phase');
  assertSameState(
    await readPoints(`${root}/r-time`),
    applyOps(done.slice(0, p2.count)),
    'restore to the time of phase 2',
  );
  // Without the archive the WAL after the backup is unreachable; before the backup, too.
  await assert.rejects(
    restoreBackup(backup.path, `${root}/r-none`, { toLsn: phases[3]!.lsn }),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
  );
  await assert.rejects(
    restoreBackup(backup.path, `${root}/r-early`, { toLsn: 1, walArchives: sources }),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /older backup/.test(e.message),
  );
});
