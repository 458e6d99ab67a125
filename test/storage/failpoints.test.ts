/**
 * Fault injection at every named failpoint, for both crash kinds: a process crash there
 * (SIGKILL), and a power loss there (every byte not yet fsynced dropped, then SIGKILL).
 * After each, the database must reopen with every acknowledged write present, nothing
 * from batches never sent, and `verify` must report no errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { FailpointName, PointId } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { batchPoints, deletedBy, PER_BATCH } from '../crash/crash-data.js';
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

function progress(path: string): {
  sent: Set<number>;
  acked: Set<number>;
  delAcked: Set<number>;
  delSent: Set<number>;
  fired: boolean;
} {
  const p = {
    sent: new Set<number>(),
    acked: new Set<number>(),
    delAcked: new Set<number>(),
    delSent: new Set<number>(),
    fired: false,
  };
  if (!existsSync(path)) return p;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [what, n] = line.split(' ');
    if (what === 'SEND') p.sent.add(Number(n));
    else if (what === 'ACK') p.acked.add(Number(n));
    else if (what === 'DELSEND') p.delSent.add(Number(n));
    else if (what === 'DELACK') p.delAcked.add(Number(n));
    else if (what === 'FIRED') p.fired = true;
  }
  return p;
}

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
        const p = progress(`${dir}.progress`);
        assert.ok(
          p.fired,
          `failpoint ${name} never fired (child ended with ${String(signal)}): ${stderr}`,
        );
        assert.equal(signal, 'SIGKILL');

        const before = await verifyDatabase(dir);
        assert.equal(before.errors, 0, JSON.stringify(before.problems, null, 2));

        const db = await Quiver.open(dir);
        const c = db.collection('crash');
        for (const b of p.acked) {
          for (const pt of batchPoints(b)) {
            if (pt.id === 'counter') continue;
            const deleter = b + 2;
            const deleted = deletedBy(deleter).includes(pt.id as number);
            const got = await c.get(pt.id);
            if (deleted && p.delAcked.has(deleter)) {
              assert.equal(
                got,
                undefined,
                `point ${pt.id} deleted by acknowledged batch ${deleter}`,
              );
            } else if (!(deleted && p.delSent.has(deleter))) {
              assert.ok(got !== undefined, `acknowledged point ${pt.id} (batch ${b}) is missing`);
              assert.deepEqual(got.vector, Array.from(new Float32Array(pt.vector as number[])));
              assert.deepEqual(got.payload, pt.payload);
            }
          }
        }
        const ids: PointId[] = [];
        for await (const pt of c.scan()) ids.push(pt.id);
        for (const id of ids) {
          if (id === 'counter') continue;
          assert.ok(
            p.sent.has(Math.floor((id as number) / PER_BATCH)),
            `point ${id} was never sent`,
          );
        }
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
