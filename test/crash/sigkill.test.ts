/**
 * Crash test: SIGKILL a real child process at random moments while it writes — with
 * sealing, WAL release and compaction running (small thresholds) — then reopen and check
 * that every acknowledged point is there with its exact vector and payload, that nothing
 * beyond the batch in flight appears, and that verify finds no error. 32 kills per run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import type { PointId } from '../../src/index.js';
import { rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { batchPoints, deletedBy, PER_BATCH } from './crash-data.js';

const KILLS = Number(process.env['QUIVER_CRASH_KILLS'] ?? 32);
const POLICIES = ['batch', 'always', 'periodic', 'none'] as const;
const CHILD = new URL('./writer-child.ts', import.meta.url).pathname;

interface Progress {
  sent: Set<number>;
  acked: Set<number>;
  delSent: Set<number>;
  delAcked: Set<number>;
  ready: boolean;
}

function readProgress(path: string): Progress {
  const p: Progress = {
    sent: new Set(),
    acked: new Set(),
    delSent: new Set(),
    delAcked: new Set(),
    ready: false,
  };
  if (!existsSync(path)) return p;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [what, n] = line.split(' ');
    const b = Number(n);
    if (what === 'READY') p.ready = true;
    else if (what === 'SEND') p.sent.add(b);
    else if (what === 'ACK') p.acked.add(b);
    else if (what === 'DELSEND') p.delSent.add(b);
    else if (what === 'DELACK') p.delAcked.add(b);
  }
  return p;
}

test(`SIGKILL during writes loses no acknowledged point (${KILLS} kills)`, async (t) => {
  const root = tempDir(t);
  const dir = `${root}/db`;
  const progressPath = `${dir}.progress`;
  const seed = Number(process.env['QUIVER_SEED'] ?? Date.now() % 100000);
  console.log(`[crash] seed=${seed} kills=${KILLS}`);
  const rand = rng(seed);
  let next = 1;
  let totalAcked = 0;

  for (let k = 0; k < KILLS; k++) {
    const policy = POLICIES[k % POLICIES.length]!;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(next), policy], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // Wait until the child is writing, then kill it at a random moment.
    const t0 = Date.now();
    while (!readProgress(progressPath).sent.has(next) && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
    child.kill('SIGKILL');
    const code = await exited;
    assert.equal(code, null, 'the child was killed, it did not exit by itself');

    const p = readProgress(progressPath);
    const report = await verifyDatabase(dir);
    assert.equal(report.errors, 0, JSON.stringify(report.problems));
    const db = await Quiver.open(dir);
    const c = db.collection('crash');
    const lastSent = Math.max(...p.sent);
    const lastAcked = p.acked.size > 0 ? Math.max(...p.acked) : 0;
    // Every acknowledged batch is there exactly (unless a later batch deleted some of it).
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
            `point ${pt.id} was deleted by acknowledged batch ${deleter}`,
          );
        } else if (deleted && p.delSent.has(deleter)) {
          // in flight: either state is allowed
        } else {
          assert.ok(
            got !== undefined,
            `acknowledged point ${pt.id} of batch ${b} is missing (kill ${k})`,
          );
          assert.deepEqual(got.vector, Array.from(new Float32Array(pt.vector as number[])));
          assert.deepEqual(got.payload, pt.payload);
        }
      }
    }
    // Nothing beyond the batch in flight: every stored id belongs to a batch that was sent.
    const seen: PointId[] = [];
    for await (const pt of c.scan()) seen.push(pt.id);
    for (const id of seen) {
      if (id === 'counter') continue;
      const b = Math.floor((id as number) / PER_BATCH);
      assert.ok(p.sent.has(b), `point ${id} of batch ${b} appeared but that batch was never sent`);
    }
    const counter = await c.get('counter');
    const cb = (counter?.payload['b'] as number | undefined) ?? 0;
    assert.ok(
      cb >= lastAcked && cb <= lastSent,
      `counter at ${cb}, acked ${lastAcked}, sent ${lastSent}`,
    );
    await db.close();
    totalAcked = p.acked.size;
    next = lastSent + 1;
  }
  const final = await Quiver.open(dir);
  const stats = final.stats();
  await final.close();
  console.log(
    `[crash] ${KILLS} kills, ${totalAcked} acknowledged batches verified; ${stats.perCollection[0]?.sealedSegments} sealed segments, manifest generation ${stats.storage.manifestGeneration}`,
  );
  assert.ok(stats.storage.manifestGeneration > KILLS, 'sealing ran under the kills');
  assert.ok(totalAcked >= KILLS, 'the children made progress');
});
