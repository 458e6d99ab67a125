/**
 * A read-only tool killed mid-run leaves its pin directory (`DATA/.pins/<pid>-…`), which
 * keeps the segment files it linked alive after the database deletes them. The next tool
 * run removes it (its pid is gone), and the space of those files is then freed.
 * (RUNBOOK "Online backups", step 5; src/ops/snapshot.ts removeStalePins.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { CLI_NODE_ARGS, quiver } from '../helpers/cli-run.js';

const ROOT = new URL('../../', import.meta.url).pathname;

test("a killed export's pin directory is removed by the next tool, freeing its files", async (t) => {
  const dir = `${tempDir(t, 'quiver-stale-pins-')}/db`;
  const db = await Quiver.open(dir, { sealPoints: 500, autoCompact: false });
  const c = await db.createCollection('docs', { dimension: 16, metric: 'euclid' });
  const r = rng(5);
  for (let b = 0; b < 4; b++) {
    const points = Array.from({ length: 500 }, (_, i) => ({
      id: b * 500 + i,
      vector: randomVector(r, 16),
      payload: { b },
    }));
    await c.upsert(points);
    await db.idle();
  }
  await db.checkpoint();
  await db.close();

  // An export whose stdout nobody reads blocks with its view pinned; then it is killed.
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'export', dir, '--collection', 'docs'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const pinsOf = (): string[] => (existsSync(`${dir}/.pins`) ? readdirSync(`${dir}/.pins`) : []);
  const pid = String(child.pid);
  for (let i = 0; i < 400 && !pinsOf().some((p) => p.startsWith(`${pid}-`)); i++) await sleep(50);
  const [pin] = pinsOf().filter((p) => p.startsWith(`${pid}-`));
  assert.ok(pin !== undefined, 'the export pinned its view');
  // Pinning is done when the view's MANIFEST copy is written (its last step).
  for (let i = 0; i < 400 && !existsSync(`${dir}/.pins/${pin}/MANIFEST`); i++) await sleep(50);
  child.kill('SIGKILL');
  await exited;
  assert.ok(existsSync(`${dir}/.pins/${pin}`), 'the killed tool left its pin directory');

  // The database compacts: its segment names go, the stale pin still holds their data.
  const pinned = readdirSync(`${dir}/.pins/${pin}/segments`).filter((f) => f.endsWith('.qseg'));
  assert.ok(pinned.length >= 2, `segments pinned: ${pinned.join(' ')}`);
  // (A CLI process: an in-process close here would run the tests' verify-on-close hook.)
  const compact = quiver(['compact', dir]);
  assert.equal(compact.code, 0, compact.stderr);
  for (const f of pinned) {
    assert.equal(existsSync(`${dir}/segments/${f}`), false, `${f} was compacted away`);
    assert.equal(statSync(`${dir}/.pins/${pin}/segments/${f}`).nlink, 1, `${f} lives in the pin`);
  }

  // The next tool removes the dead tool's pins (and its own when done).
  const verify = quiver(['verify', dir]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.deepEqual(pinsOf(), [], 'the stale pin directory is gone');
});
