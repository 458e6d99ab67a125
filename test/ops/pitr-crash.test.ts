/**
 * `quiver backup restore --to-time` after a crash: a writer child with a WAL archive is
 * SIGKILLed mid-run; restoring a backup to a time between two acknowledged ops (whose
 * records reached the archive) gives exactly the ops acknowledged by then, and a time
 * after the crash resolves conservatively — to a whole prefix, never past what was written.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';
import { quiver } from '../helpers/cli-run.js';
import type { Op } from './ops-data.js';
import { applyOps, COLLECTION, DIM, opAt, writeOp } from './ops-data.js';
import { assertSameState, readPoints } from './ops-helpers.js';

const CHILD = new URL('./timed-writer-child.ts', import.meta.url).pathname;

interface Ack {
  n: number;
  lsn: number;
  t: number;
}

function readTimedAcks(path: string): Ack[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Ack);
}

/** Every [lsn, ms] sample of the archive's time index files. */
function archivedSamples(archive: string): [number, number][] {
  return readdirSync(archive)
    .filter((f) => f.endsWith('.times.json'))
    .flatMap((f) => JSON.parse(readFileSync(`${archive}/${f}`, 'utf8')) as [number, number][]);
}

test('restore --to-time after a SIGKILLed writer gives exactly the acknowledged ops', async (t) => {
  const root = tempDir(t, 'quiver-pitr-crash-');
  const dir = `${root}/db`;
  const archive = `${root}/archive`;
  const done: { lsn: number; op: Op }[] = [];
  const db = await Quiver.open(dir, { walArchiveDir: archive, walFileBytes: 8 * 1024 });
  const c = await db.createCollection(COLLECTION, { dimension: DIM, metric: 'euclid' });
  for (let n = 1; n <= 40; n++) done.push({ lsn: (await writeOp(c, opAt(n))).lsn, op: opAt(n) });
  await db.close();
  const full = quiver(['backup', 'create', dir, '-o', `${root}/full`]);
  assert.equal(full.code, 0, full.stderr);

  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, '41', '100000', archive], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  const acksPath = `${dir}.acks`;
  const count = (): number => {
    try {
      return readFileSync(acksPath, 'utf8').split('\n').length - 1;
    } catch {
      return 0;
    }
  };
  while (count() < 400) await sleep(50);
  child.kill('SIGKILL');
  await exited;
  const acks = readTimedAcks(acksPath);

  // An op i (a pause follows it) whose record's time reached the archive, as did i+1's.
  const sampled = new Set(archivedSamples(archive).map(([lsn]) => lsn));
  // (The next op's record has a time there too, so a resolution that is too late shows.)
  const candidates = acks.filter(
    (a) => a.n % 10 === 0 && sampled.has(a.lsn) && sampled.has(a.lsn + 1),
  );
  const pick = candidates[Math.floor(candidates.length / 2)];
  assert.ok(pick !== undefined, 'an acknowledged op of the archived WAL precedes a pause');
  const until = new Date(pick.t + 1);
  const restored = quiver([
    'backup',
    'restore',
    `${root}/full`,
    '-o',
    `${root}/r`,
    '--to-time',
    until.toISOString(),
    '--wal-archive',
    archive,
    '--wal-archive',
    `${dir}/wal`,
    '--json',
  ]);
  assert.equal(restored.code, 0, restored.stderr);
  const report = JSON.parse(restored.stdout) as { lsn: number; lsnSource: string };
  assert.equal(report.lsnSource, 'to-time');
  assert.equal(report.lsn, pick.lsn, 'the time resolves to the last op acknowledged before it');
  const acked = [...done, ...acks.map((a) => ({ lsn: a.lsn, op: opAt(a.n) }))];
  assertSameState(
    await readPoints(`${root}/r`),
    applyOps(acked.filter((a) => a.lsn <= pick.lsn)),
    `restore to ${until.toISOString()}`,
  );

  // After the crash the live file's times are gone: a later time resolves to a whole
  // prefix at or before the last write (the op in flight at the kill counts as written).
  const last = acks.at(-1)!;
  const inFlight = { lsn: last.lsn + 1, op: opAt(last.n + 1) };
  const late = quiver([
    'backup',
    'restore',
    `${root}/full`,
    '-o',
    `${root}/r-late`,
    '--to-time',
    new Date(last.t + 1000).toISOString(),
    '--wal-archive',
    archive,
    '--wal-archive',
    `${dir}/wal`,
    '--json',
  ]);
  assert.equal(late.code, 0, late.stderr);
  const lateLsn = (JSON.parse(late.stdout) as { lsn: number }).lsn;
  assert.ok(lateLsn >= pick.lsn && lateLsn <= inFlight.lsn, `resolved LSN ${lateLsn}`);
  assertSameState(
    await readPoints(`${root}/r-late`),
    applyOps([...acked, inFlight].filter((a) => a.lsn <= lateLsn)),
    'restore to a time after the crash',
  );
});
