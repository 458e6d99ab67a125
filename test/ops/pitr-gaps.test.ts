/**
 * Point-in-time recovery through the CLI flags: `quiver backup restore` of an incremental
 * (full + incremental + WAL archive) with `--to-lsn` gives exactly the state at that LSN;
 * with one archived WAL file deleted from the middle it refuses and names the missing LSN
 * range (the records of that file, not "everything after it"), while a point before the
 * gap still restores; the target is left untouched by the refusal.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { WAL_HEADER_SIZE } from '../../src/storage/format.js';
import { decodeWalRecord } from '../../src/storage/wal/wal-record.js';
import { tempDir } from '../helpers/temp-dir.js';
import { quiver } from '../helpers/cli-run.js';
import type { Op } from './ops-data.js';
import { applyOps, COLLECTION, DIM, opAt, writeOp } from './ops-data.js';
import { assertSameState, readPoints } from './ops-helpers.js';

/** First and last LSN of the WAL file at `path`. */
function lsnRange(path: string): [number, number] {
  const bytes = new Uint8Array(readFileSync(path));
  const lsns: number[] = [];
  for (let p = WAL_HEADER_SIZE; p < bytes.length;) {
    const r = decodeWalRecord(bytes, p);
    if (r.kind !== 'record') break;
    lsns.push(r.record.lsn);
    p = r.next;
  }
  return [lsns[0]!, lsns[lsns.length - 1]!];
}

test('restore an incremental chain with the archive by --to-lsn; a gap in the archive is named', async (t) => {
  const root = tempDir(t, 'quiver-pitr-gaps-');
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
  let n = 1;
  const phase = async (ops: number): Promise<{ lsn: number; count: number }> => {
    for (let i = 0; i < ops; i++, n++) {
      const op = opAt(n);
      done.push({ lsn: (await writeOp(c, op)).lsn, op });
    }
    await db.idle();
    await db.checkpoint();
    return { lsn: db.stats().wal.lastLsn, count: done.length };
  };
  await phase(50);
  const full = quiver(['backup', 'create', dir, '-o', `${root}/full`]);
  assert.equal(full.code, 0, full.stderr);
  const p2 = await phase(60);
  const inc = quiver([
    'backup',
    'create',
    dir,
    '-o',
    `${root}/inc`,
    '--incremental',
    '--base',
    `${root}/full`,
  ]);
  assert.equal(inc.code, 0, inc.stderr);
  assert.match(inc.stdout, /^incremental backup /);
  const p3 = await phase(80);
  const p4 = await phase(80);
  await db.close();
  const sources = ['--wal-archive', archive, '--wal-archive', `${dir}/wal`];

  // The incremental alone restores to its own LSN (phase 2), through its chain.
  const atBackup = quiver(['backup', 'restore', `${root}/inc`, '-o', `${root}/r-inc`, '--json']);
  assert.equal(atBackup.code, 0, atBackup.stderr);
  const rb = JSON.parse(atBackup.stdout) as { chain: string[]; lsn: number };
  assert.deepEqual(rb.chain, [`${root}/inc`, `${root}/full`]);
  assert.equal(rb.lsn, p2.lsn);
  assertSameState(await readPoints(`${root}/r-inc`), applyOps(done.slice(0, p2.count)), 'inc');

  // Rolled forward with the archive to phase 3's LSN: exactly that state.
  const to3 = quiver([
    'backup',
    'restore',
    `${root}/inc`,
    '-o',
    `${root}/r3`,
    '--to-lsn',
    String(p3.lsn),
    ...sources,
  ]);
  assert.equal(to3.code, 0, to3.stderr);
  assert.match(to3.stdout, new RegExp(`at LSN ${p3.lsn} \\(to-lsn\\)`));
  assert.match(to3.stdout, /verify: ok/);
  assertSameState(await readPoints(`${root}/r3`), applyOps(done.slice(0, p3.count)), 'phase 3');

  // Delete one archived file from the middle of phase 4 (released, so not in wal/ either).
  const archived = readdirSync(archive)
    .filter((f) => f.endsWith('.wal'))
    .sort();
  const middle = archived.find((f) => {
    const [a, b] = lsnRange(`${archive}/${f}`);
    return a > p3.lsn + 5 && b < p4.lsn - 5 && !existsSync(`${dir}/wal/${f}`);
  });
  assert.ok(middle !== undefined, `an archived file inside phase 4: ${archived.join(' ')}`);
  const [gapFirst, gapLast] = lsnRange(`${archive}/${middle}`);
  rmSync(`${archive}/${middle}`);
  const refused = quiver([
    'backup',
    'restore',
    `${root}/inc`,
    '-o',
    `${root}/r4`,
    '--to-lsn',
    String(p4.lsn),
    ...sources,
  ]);
  assert.equal(refused.code, 2, refused.stdout);
  assert.match(
    refused.stderr,
    new RegExp(
      `WAL records ${gapFirst}\\.\\.${gapLast} are in neither the backup nor the given WAL archives \\(${archive}, ${dir}/wal\\).*the latest point reachable is LSN ${gapFirst - 1}`,
    ),
  );
  assert.deepEqual(
    existsSync(`${root}/r4`) ? readdirSync(`${root}/r4`) : [],
    [],
    'nothing restored',
  );
  // A point before the gap still restores exactly.
  const before = done.filter((d) => d.lsn < gapFirst).length;
  const lastBefore = done[before - 1]!.lsn;
  const ok = quiver([
    'backup',
    'restore',
    `${root}/inc`,
    '-o',
    `${root}/r5`,
    '--to-lsn',
    String(lastBefore),
    ...sources,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assertSameState(
    await readPoints(`${root}/r5`),
    applyOps(done.slice(0, before)),
    'before the gap',
  );
});
