/**
 * Fault injection at every named failpoint, for both crash kinds: a process crash there
 * (SIGKILL), and a power loss there (every byte not yet fsynced dropped, then SIGKILL).
 * After each, the database must reopen with every acknowledged write present, nothing
 * from batches never sent, and `verify` must report no errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { FailpointName } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { batchPoints } from '../crash/crash-data.js';
import { checkAcknowledged, readProgress } from '../helpers/acknowledged.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = new URL('./failpoint-child.ts', import.meta.url).pathname;

/** Each failpoint and which hit of it fires (so some data exists by then). */
const FAILPOINTS: readonly [FailpointName, number][] = [
  ['afterWalAppendBeforeFsync', 30],
  ['afterWalFsync', 30],
  ['midSegmentWrite', 3],
  ['beforeManifestRename', 3],
  ['afterManifestRename', 3],
  ['beforeWalRelease', 2],
  ['beforeCleanMarkWrite', 1],
];

describe('failpoints: crash and power loss at every one', () => {
  for (const [name, nth] of FAILPOINTS) {
    for (const mode of ['crash', 'power'] as const) {
      test(`${mode} at ${name}`, async (t) => {
        const dir = `${tempDir(t)}/db`;
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', CHILD, dir, mode, name, String(nth)],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const signal = await new Promise<NodeJS.Signals | null>((r) =>
          child.on('exit', (_c, s) => r(s)),
        );
        const p = readProgress(`${dir}.progress`);
        assert.ok(
          p.marks.has('FIRED'),
          `failpoint ${name} never fired (child ended with ${String(signal)}): ${stderr}`,
        );
        assert.equal(signal, 'SIGKILL');

        const before = await verifyDatabase(dir);
        assert.equal(before.errors, 0, JSON.stringify(before.problems, null, 2));

        const db = await Quiver.open(dir);
        const c = db.collection('crash');
        await checkAcknowledged(c, p, `${mode} at ${name}`);
        // The reopened database takes writes and closes cleanly.
        await c.upsert(batchPoints(1000));
        await db.checkpoint();
        await db.close();
        const after = await verifyDatabase(dir);
        assert.equal(after.errors, 0, JSON.stringify(after.problems, null, 2));
      });
    }
  }
});
