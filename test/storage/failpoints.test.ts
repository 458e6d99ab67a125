/**
 * Fault injection at every named failpoint, for both crash kinds — a process crash there
 * (SIGKILL) and a power loss there (unsynced bytes and unsynced directory entries dropped,
 * then SIGKILL) — under every fsync policy. Failpoints during open (WAL replay, torn-tail
 * truncation) are hit by a second child opening what a first one left after its crash.
 * After each, `verify` reports no errors and the database reopens with every acknowledged
 * write (a process crash, or a power loss under `always`/`batch`), or with a whole prefix
 * of them (a power loss under `periodic`, which keeps all but its last window). A power
 * loss under `none` (tests only: it never fsyncs the log) promises no data, only a
 * database that opens, verifies and holds nothing that was never sent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { Collection, FailpointName, FsyncPolicy } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { batchPoints, PER_BATCH } from '../crash/crash-data.js';
import type { Progress } from '../helpers/acknowledged.js';
import { checkAcknowledged, checkDurablePrefix, readProgress } from '../helpers/acknowledged.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = new URL('./failpoint-child.ts', import.meta.url).pathname;
const POLICIES: readonly FsyncPolicy[] = ['always', 'batch', 'periodic', 'none'];
/** periodic's fsync interval (the engine's default) plus slack for a loaded machine. */
const PERIODIC_WINDOW_MS = 100 + 1000;

/** Each failpoint of the write path and which hit of it fires (so some data exists by then). */
const FAILPOINTS: readonly [FailpointName, number][] = [
  ['afterWalAppendBeforeFsync', 30],
  ['afterWalFsync', 30],
  ['midSegmentWrite', 3],
  ['beforeManifestRename', 3],
  ['afterManifestRename', 3],
  ['beforeWalRelease', 2],
  ['midWalArchive', 2],
  ['afterWalArchive', 2],
  ['beforeCleanMarkWrite', 1],
];

/** Failpoints of the open path: hit by a child reopening a crashed directory. */
const OPEN_FAILPOINTS: readonly FailpointName[] = ['afterRecoveryReplay', 'afterTornTailTruncate'];

async function runChild(
  dir: string,
  mode: 'crash' | 'power',
  name: FailpointName,
  nth: number,
  policy: FsyncPolicy,
  firstBatch = 1,
): Promise<void> {
  const args = [CHILD, dir, mode, name, String(nth), policy, String(firstBatch)];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
  const fired = readFileSync(`${dir}.progress`, 'utf8').includes(`FIRED ${name} `);
  assert.ok(fired, `failpoint ${name} never fired (child ended with ${String(signal)}): ${stderr}`);
  assert.equal(signal, 'SIGKILL');
}

/** What must have survived: everything acknowledged, or a whole prefix of it. */
async function checkSurvivors(
  dir: string,
  p: Progress,
  mode: 'crash' | 'power',
  policy: FsyncPolicy,
  where: string,
): Promise<void> {
  const before = await verifyDatabase(dir);
  assert.equal(before.errors, 0, JSON.stringify(before.problems, null, 2));
  const db = await Quiver.open(dir);
  const c = db.collection('crash');
  if (mode === 'crash' || policy === 'always' || policy === 'batch') {
    await checkAcknowledged(c, p, where);
  } else if (policy === 'none') {
    await checkNothingInvented(c, p, where);
  } else {
    const keep =
      policy === 'periodic' && p.firedAt !== undefined ? p.firedAt - PERIODIC_WINDOW_MS : undefined;
    await checkDurablePrefix(c, p, where, keep);
  }
  // The reopened database takes writes and closes cleanly.
  await c.upsert(batchPoints(1000));
  await db.checkpoint();
  await db.close();
  const after = await verifyDatabase(dir);
  assert.equal(after.errors, 0, JSON.stringify(after.problems, null, 2));
}

/** Every stored point belongs to a batch that was sent. */
async function checkNothingInvented(c: Collection, p: Progress, where: string): Promise<void> {
  for await (const pt of c.scan()) {
    if (pt.id === 'counter') continue;
    const b = Math.floor((pt.id as number) / PER_BATCH);
    assert.ok(p.sent.has(b), `${where}: point ${pt.id} of batch ${b} was never sent`);
  }
}

/** Appends half a record's worth of garbage to the newest WAL file: a torn append. */
function tearWalTail(dir: string): void {
  const files = readdirSync(`${dir}/wal`)
    .filter((f) => f.endsWith('.wal'))
    .sort();
  const last = files.at(-1);
  assert.ok(last !== undefined, 'the crashed run left a WAL file');
  appendFileSync(`${dir}/wal/${last}`, new Uint8Array(37).fill(0xab));
}

describe(
  'failpoints: crash and power loss at every one, under every fsync policy',
  {
    concurrency: 2,
  },
  () => {
    for (const policy of POLICIES) {
      for (const [name, nth] of FAILPOINTS) {
        for (const mode of ['crash', 'power'] as const) {
          test(`${mode} at ${name} (${policy})`, async (t) => {
            const dir = `${tempDir(t)}/db`;
            await runChild(dir, mode, name, nth, policy);
            const p = readProgress(`${dir}.progress`);
            await checkSurvivors(dir, p, mode, policy, `${mode} at ${name} (${policy})`);
          });
        }
      }
      for (const name of OPEN_FAILPOINTS) {
        for (const mode of ['crash', 'power'] as const) {
          test(`${mode} during open at ${name} (${policy})`, async (t) => {
            const dir = `${tempDir(t)}/db`;
            // A first child crashes mid-write and leaves a torn tail; a second one dies while
            // opening what it left.
            await runChild(dir, 'crash', 'afterWalFsync', 30, policy);
            tearWalTail(dir);
            await runChild(dir, mode, name, 1, policy, 500);
            const p = readProgress(`${dir}.progress`);
            assert.ok(!p.sent.has(500), 'the second child died before it wrote');
            await checkSurvivors(
              dir,
              p,
              'crash',
              policy,
              `${mode} during open at ${name} (${policy})`,
            );
          });
        }
      }
    }
  },
);
