/**
 * verify finds each kind of damage — a flipped byte in a segment, a tombstone file, the
 * manifest, a WAL record before the tail; a missing segment — and names file and offset;
 * a healthy database (also while a writer process runs) is clean.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { before, describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = new URL('./ops-writer-child.ts', import.meta.url).pathname;

describe('verify', () => {
  let source = '';
  before(async () => {
    source = tempDir(undefined, 'quiver-verify-src-');
    const db = await Quiver.open(source, { sealPoints: 50, autoCompact: false });
    const c = await db.createCollection('v', { dimension: 8, metric: 'cosine' });
    const rand = rng(3);
    for (let b = 0; b < 3; b++) {
      await c.upsert(
        Array.from({ length: 50 }, (_, i) => ({
          id: b * 50 + i,
          vector: randomVector(rand, 8),
          payload: { b },
        })),
      );
      await db.idle();
    }
    await c.delete([3, 60, 120]);
    await db.checkpoint();
    await c.upsert([{ id: 'tail', vector: randomVector(rand, 8) }]);
    await c.upsert([{ id: 'tail2', vector: randomVector(rand, 8) }]);
    await db.close();
  });

  test('a healthy database is clean', async () => {
    const r = await verifyDatabase(source);
    assert.equal(r.status, 'ok', JSON.stringify(r.problems));
    assert.equal(r.checked_vectors, 147);
    assert.equal(r.errors, 0);
  });

  const cases: [string, (dir: string) => string, number | undefined][] = [
    ['segment byte', (d) => flip(d, 'segments', (n) => n.endsWith('.qseg'), 0.6), undefined],
    ['tombstone byte', (d) => flip(d, 'segments', (n) => n.endsWith('.tomb'), 0.5), undefined],
    ['manifest byte', (d) => flip(d, '.', (n) => n === 'MANIFEST', 0.5), undefined],
    [
      'WAL record before the tail',
      (d) => flip(d, 'wal', (n) => n.endsWith('.wal'), 0.3),
      undefined,
    ],
    [
      'missing segment',
      (d) => {
        const name = readdirSync(`${d}/segments`).find((n) => n.endsWith('.qseg'))!;
        rmSync(`${d}/segments/${name}`);
        return name;
      },
      undefined,
    ],
  ];
  for (const [kind, damage] of cases) {
    test(`finds a ${kind} and names the file`, async (t) => {
      const dir = tempDir(t, 'quiver-verify-');
      cpSync(source, dir, { recursive: true });
      const name = damage(dir);
      const r = await verifyDatabase(dir);
      assert.equal(r.status, 'problems', `${kind}: detected`);
      const p = r.problems.find((x) => x.severity === 'error' && basename(x.file) === name);
      assert.ok(p, `${kind}: a problem names ${name}: ${JSON.stringify(r.problems)}`);
      assert.ok(p.action.length > 0, 'with an action');
      if (kind !== 'missing segment') assert.equal(typeof p.offset, 'number', `${kind}: offset`);
    });
  }

  test('an orphan file is a warning, not an error', async (t) => {
    const dir = tempDir(t, 'quiver-verify-orphan-');
    cpSync(source, dir, { recursive: true });
    writeFileSync(`${dir}/segments/seg-0000000000009999.qseg`, 'x');
    const r = await verifyDatabase(dir);
    assert.equal(r.status, 'ok');
    assert.equal(r.warnings, 1);
  });

  test('runs online, on a pinned view, while a writer process writes and compacts', async (t) => {
    const root = tempDir(t, 'quiver-verify-online-');
    const db = `${root}/db`;
    const acks = `${db}.acks`;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, '1', '600']);
    let running = true;
    const exited = new Promise<number | null>((r) =>
      child.on('exit', (code) => {
        running = false;
        r(code);
      }),
    );
    t.after(() => {
      if (running) child.kill('SIGKILL');
    });
    // Verify once the writer is busy: it has acknowledged enough ops to have sealed
    // segments (sealPoints 50), seen in its acks file rather than guessed from a sleep.
    const until = Date.now() + 30_000;
    while (ackedLines(acks).length < 75) {
      assert.ok(Date.now() < until, 'the writer acknowledged 75 ops within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Verify again and again while the writer runs. Each run must see every op acknowledged
    // before it started (its view's LSN is at least theirs), and the writer must go on
    // acknowledging ops while verify runs: a verify that took the writer's lock or made it
    // wait would show no acknowledgement between its start and its report.
    const runs: { ackedBefore: number; lsn: number; ackedAfter: number }[] = [];
    // Runs count while the writer held its LOCK from before to after (it releases it only
    // as it closes, and never opens again).
    const lock = `${db}/LOCK`;
    while (existsSync(lock)) {
      const before = lastLsn(acks);
      const r = await verifyDatabase(db);
      const after = lastLsn(acks);
      if (!existsSync(lock)) break; // the writer closed during this run
      assert.equal(r.online, true, "verify saw the writer's lock and checked a pinned view");
      assert.equal(r.status, 'ok', JSON.stringify(r.problems));
      assert.equal(r.warnings, 0, JSON.stringify(r.problems));
      assert.ok(r.checked_vectors > 0, 'the pinned view has vectors');
      assert.ok(r.lsn >= before, `the view (LSN ${r.lsn}) holds every op acked before (${before})`);
      runs.push({ ackedBefore: before, lsn: r.lsn, ackedAfter: after });
    }
    assert.equal(await exited, 0);
    const busy = runs.filter((x) => x.ackedAfter > x.ackedBefore && x.ackedAfter > x.lsn);
    assert.ok(
      busy.length >= 2,
      `the writer acknowledged ops past the pinned LSN during at least 2 verify runs: ${JSON.stringify(runs)}`,
    );
    const end = lastLsn(acks);
    assert.ok(runs[0]!.lsn < end, "the first view ends before the writer's last op");
    // Stopped now: verify checks the directory itself, and sees everything.
    const final = await verifyDatabase(db);
    assert.equal(final.status, 'ok', JSON.stringify(final.problems));
    assert.equal(final.online, false);
    assert.ok(final.lsn >= end, `the offline check ends at the last op (${final.lsn} >= ${end})`);
  });
});

/** The highest LSN the writer child has acknowledged so far (0 before any). */
function lastLsn(acks: string): number {
  return ackedLines(acks).reduce((m, a) => Math.max(m, a.lsn), 0);
}

/** The writer's complete ack lines (the last one may be half-appended while it runs). */
function ackedLines(acks: string): { n: number; lsn: number }[] {
  if (!existsSync(acks)) return [];
  const lines = readFileSync(acks, 'utf8').split('\n').slice(0, -1);
  return lines
    .map((l) => JSON.parse(l) as { n?: number; lsn: number })
    .filter((a): a is { n: number; lsn: number } => a.n !== undefined);
}

/** Flips a byte at `at` (share of the length) of the first matching file; returns its name. */
function flip(dir: string, sub: string, match: (n: string) => boolean, at: number): string {
  const name = readdirSync(`${dir}/${sub}`).filter(match)[0]!;
  const path = `${dir}/${sub}/${name}`;
  const bytes = readFileSync(path);
  const i = Math.floor(bytes.length * at);
  bytes[i] = bytes[i]! ^ 0x5a;
  writeFileSync(path, bytes);
  return name;
}

describe('verify --collection', () => {
  test('checks only the named collections and refuses an unknown name', async (t) => {
    const dir = tempDir(t, 'quiver-verify-only-');
    const db = await Quiver.open(dir, { sealPoints: 20, autoCompact: false });
    const rand = rng(5);
    const segmentsBefore = new Set<string>();
    for (const name of ['a', 'b']) {
      if (name === 'b') for (const n of readdirSync(`${dir}/segments`)) segmentsBefore.add(n);
      const c = await db.createCollection(name, { dimension: 4, metric: 'euclid' });
      const points = Array.from({ length: 40 }, (_, i) => ({
        id: i,
        vector: randomVector(rand, 4),
      }));
      await c.upsert(points);
      await db.idle();
      await db.checkpoint();
    }
    await db.close();
    // The segments sealed after "a" was done belong to "b": damage one of them.
    const ofB = readdirSync(`${dir}/segments`).filter(
      (n) => n.endsWith('.qseg') && !segmentsBefore.has(n),
    );
    assert.ok(ofB.length > 0);
    flip(dir, 'segments', (n) => n === ofB[0], 0.6);
    const onlyA = await verifyDatabase(dir, { collections: ['a'] });
    assert.equal(onlyA.status, 'ok', JSON.stringify(onlyA.problems));
    assert.equal(onlyA.checked_vectors, 40);
    const onlyB = await verifyDatabase(dir, { collections: ['b'] });
    assert.equal(onlyB.status, 'problems');
    assert.ok(onlyB.problems.some((p) => p.file.endsWith(ofB[0]!)));
    await assert.rejects(verifyDatabase(dir, { collections: ['nope'] }), {
      code: 'COLLECTION_NOT_FOUND',
    });
  });
});
