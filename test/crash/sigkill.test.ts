/**
 * Crash test: SIGKILL a real child process at random moments while it writes — with
 * sealing, WAL release and compaction running (small thresholds) — then reopen and check
 * that every acknowledged point is there with its exact vector and payload, that the batch
 * in flight survived whole or not at all and nothing beyond it appears, that searches
 * (exact and graph) agree with brute force over the stored points, and that verify finds
 * no error. 32 kills per run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { checkAcknowledged, readProgress } from '../helpers/acknowledged.js';
import { checkSearchAgainstBruteForce } from '../helpers/brute-force.js';
import { DIM } from './crash-data.js';

const KILLS = Number(process.env['QUIVER_CRASH_KILLS'] ?? 32);
const POLICIES = ['batch', 'always', 'periodic', 'none'] as const;
const CHILD = new URL('./writer-child.ts', import.meta.url).pathname;

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
    await checkAcknowledged(c, p, `kill ${k}`);
    const queries = Array.from({ length: 8 }, () =>
      Array.from({ length: DIM }, () => Math.floor(rand() * 1000) / 8),
    );
    await checkSearchAgainstBruteForce(c, queries, `kill ${k}`);
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
