/**
 * Open-time behaviour on real files: the directory lock (LOCKED for a live owner, taken
 * over from a dead one), torn tails reported and cut, and damage after a clean close
 * reported as CORRUPT naming file and offset, never mistaken for a torn tail.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { describe, test } from 'node:test';
import { Quiver, isQuiverError } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

const WAL1 = 'wal/0000000000000001.wal';

async function seed(dir: string, points = 20): Promise<void> {
  const db = await Quiver.open(dir, { fsync: 'always' });
  const c = await db.createCollection('c', { dimension: 2, metric: 'euclid' });
  for (let i = 0; i < points; i++) {
    await c.upsert([{ id: i, vector: [i, i], payload: { i } }]);
  }
  await db.close();
}

describe('recovery and locking', () => {
  test('a second open in the same process is LOCKED; after close it opens', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir);
    await assert.rejects(Quiver.open(dir), (e: unknown) => isQuiverError(e, 'LOCKED'));
    await db.close();
    const again = await Quiver.open(dir);
    await again.close();
  });

  test('another live process holding the directory gets LOCKED; a killed one is taken over', async (t) => {
    const dir = tempDir(t);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${new URL('../../src/index.ts', import.meta.url).pathname}').then(async ({ Quiver }) => { await Quiver.open(process.argv[1]); console.log('OPEN'); setInterval(() => {}, 1000); })`,
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('OPEN')) resolve();
      });
      child.on('exit', () => reject(new Error('child exited early')));
    });
    await assert.rejects(Quiver.open(dir), (e: unknown) => {
      assert.ok(isQuiverError(e, 'LOCKED'));
      assert.match(e.message, new RegExp(`pid ${child.pid}`));
      return true;
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok(existsSync(`${dir}/LOCK`), 'the killed process left its lock behind');
    const db = await Quiver.open(dir);
    await db.close();
    assert.equal(existsSync(`${dir}/LOCK`), false);
  });

  test('a lock left by a killed process that nobody reaped (a zombie) is taken over', async (t) => {
    if (!existsSync('/proc/self/stat')) return t.skip('needs Linux /proc');
    const dir = tempDir(t);
    // The forked child exits at once and its parent never waits for it: a zombie until the
    // parent dies. Perl (essential on Debian) neither reaps on its own nor races like a shell,
    // which may reap a finished background job before it execs.
    const script = '$|=1; my $p = fork(); if ($p == 0) { exit 0 } print "$p\\n"; sleep 3';
    const parent = spawn('perl', ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => parent.kill('SIGKILL'));
    const pid = await new Promise<number>((r) =>
      parent.stdout.once('data', (d: Buffer) => r(Number(d.toString().trim()))),
    );
    let state = '';
    for (let i = 0; i < 100 && state !== 'Z'; i++) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.charAt(stat.lastIndexOf(')') + 2);
      if (state !== 'Z') await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(state, 'Z', `process ${pid} should be a zombie`);
    writeFileSync(`${dir}/LOCK`, JSON.stringify({ pid, since: new Date().toISOString() }));
    const db = await Quiver.open(dir);
    await db.close();
    assert.equal(existsSync(`${dir}/LOCK`), false);
  });

  test('a failed open releases the lock', async (t) => {
    const dir = tempDir(t);
    await seed(dir);
    const wal = readFileSync(`${dir}/${WAL1}`);
    wal[40] = wal[40]! ^ 0xff;
    writeFileSync(`${dir}/${WAL1}`, wal);
    await assert.rejects(Quiver.open(dir), (e: unknown) => isQuiverError(e, 'CORRUPT'));
    assert.equal(existsSync(`${dir}/LOCK`), false);
  });

  test('after a clean close, damage to the last record is CORRUPT (not a torn tail)', async (t) => {
    const dir = tempDir(t);
    await seed(dir);
    const path = `${dir}/${WAL1}`;
    const size = statSync(path).size;
    const wal = readFileSync(path);
    wal[size - 3] = wal[size - 3]! ^ 0x01;
    writeFileSync(path, wal);
    await assert.rejects(Quiver.open(dir), (e: unknown) => {
      assert.ok(isQuiverError(e, 'CORRUPT'), String(e));
      assert.equal(e.details.file, `${dir}/${WAL1}`);
      assert.equal(typeof e.details.offset, 'number');
      assert.match(e.message, /closed cleanly/);
      return true;
    });
  });

  test('after a clean close, a truncated WAL is CORRUPT (log data missing)', async (t) => {
    const dir = tempDir(t);
    await seed(dir);
    const path = `${dir}/${WAL1}`;
    truncateSync(path, statSync(path).size - 20);
    await assert.rejects(Quiver.open(dir), (e: unknown) => isQuiverError(e, 'CORRUPT'));
  });

  test('without a clean close, a torn tail is cut, logged and reported; earlier points stay', async (t) => {
    const dir = tempDir(t);
    await seed(dir, 10);
    // Simulate a crash: no clean mark, and half a record at the end of the log.
    const { unlinkSync } = await import('node:fs');
    unlinkSync(`${dir}/CLEAN`);
    appendFileSync(`${dir}/${WAL1}`, new Uint8Array([40, 0, 0, 0, 1, 2, 3, 4, 5]));
    const warnings: object[] = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      error: () => undefined,
      warn: (o: object) => warnings.push(o),
    };
    const db = await Quiver.open(dir, { logger });
    assert.equal(db.recovery.cleanShutdown, false);
    assert.equal(db.recovery.tornTail?.droppedBytes, 9);
    assert.equal(db.recovery.tornTail?.file, `${dir}/${WAL1}`);
    assert.ok(warnings.some((w) => 'droppedBytes' in w));
    assert.equal(await db.collection('c').count(), 10);
    await db.collection('c').upsert([{ id: 100, vector: [1, 1] }]);
    await db.close();
    const db2 = await Quiver.open(dir);
    assert.equal(db2.recovery.tornTail, undefined);
    assert.equal(await db2.collection('c').count(), 11);
    await db2.close();
  });

  test('damage in the middle of the log is CORRUPT even without a clean close', async (t) => {
    const dir = tempDir(t);
    await seed(dir, 10);
    const { unlinkSync } = await import('node:fs');
    unlinkSync(`${dir}/CLEAN`);
    const path = `${dir}/${WAL1}`;
    const wal = readFileSync(path);
    wal[60] = wal[60]! ^ 0x10;
    writeFileSync(path, wal);
    await assert.rejects(Quiver.open(dir), (e: unknown) => {
      assert.ok(isQuiverError(e, 'CORRUPT'));
      assert.match(e.message, /intact records follow/);
      return true;
    });
  });
});
