/**
 * The acknowledged-writes oracle of the crash tests: parses a writer child's progress file
 * (SEND / ACK / DELSEND / DELACK lines written synchronously) and checks a reopened
 * collection against it — every acknowledged point exact, a batch in flight at the crash
 * all or nothing, nothing from unsent batches. Where the fsync policy allows a power loss
 * to drop acknowledged writes, what survives must still be a whole prefix of them.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { Collection, PointId } from '../../src/index.js';
import { batchPoints, deletedBy, PER_BATCH } from '../crash/crash-data.js';

export interface Progress {
  readonly sent: Set<number>;
  readonly acked: Set<number>;
  readonly delSent: Set<number>;
  readonly delAcked: Set<number>;
  /** Lines other than the four above, e.g. READY or FIRED name. */
  readonly marks: Set<string>;
  /** When each batch was acknowledged (ms since the epoch), where the child wrote it. */
  readonly ackedAt: Map<number, number>;
  /** When the failpoint fired (ms since the epoch), where the child wrote it. */
  firedAt: number | undefined;
}

export function readProgress(path: string): Progress {
  const p: Progress = {
    sent: new Set(),
    acked: new Set(),
    delSent: new Set(),
    delAcked: new Set(),
    marks: new Set(),
    ackedAt: new Map(),
    firedAt: undefined,
  };
  if (!existsSync(path)) return p;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [what, n, last] = line.split(' ');
    const b = Number(n);
    const at = Number(last ?? n);
    if (what === 'SEND') p.sent.add(b);
    else if (what === 'ACK') {
      p.acked.add(b);
      if (last !== undefined) p.ackedAt.set(b, at);
    } else if (what === 'FIRED' && Number.isFinite(at)) p.firedAt = at;
    else if (what === 'DELSEND') p.delSent.add(b);
    else if (what === 'DELACK') p.delAcked.add(b);
    else if (what !== undefined && what !== '') p.marks.add(what);
  }
  return p;
}

/**
 * Checks every acknowledged batch's points (exact vector and payload; deleted when an
 * acknowledged later batch deleted them; either way while that delete was in flight), and
 * that no stored point belongs to a batch that was never sent.
 */
export async function checkAcknowledged(c: Collection, p: Progress, where: string): Promise<void> {
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
          `${where}: point ${pt.id} was deleted by acknowledged batch ${deleter}`,
        );
      } else if (!(deleted && p.delSent.has(deleter))) {
        assert.ok(
          got !== undefined,
          `${where}: acknowledged point ${pt.id} of batch ${b} is missing`,
        );
        assert.deepEqual(got.vector, Array.from(new Float32Array(pt.vector as number[])));
        assert.deepEqual(got.payload, pt.payload);
      }
    }
  }
  const seen: PointId[] = [];
  for await (const pt of c.scan()) seen.push(pt.id);
  const present = new Set<number>();
  for (const id of seen) {
    if (id === 'counter') continue;
    const b = Math.floor((id as number) / PER_BATCH);
    assert.ok(p.sent.has(b), `${where}: point ${id} of batch ${b} appeared but was never sent`);
    present.add(id as number);
  }
  // A batch sent but not acknowledged was in flight: one upsert is one WAL record, so it
  // survived whole or not at all (leaving out what a later batch's delete removed).
  for (const b of p.sent) {
    if (p.acked.has(b)) continue;
    const gone = new Set(p.delSent.has(b + 2) ? deletedBy(b + 2) : []);
    const ids = batchPoints(b)
      .map((pt) => pt.id)
      .filter((id): id is number => typeof id === 'number' && !gone.has(id));
    const n = ids.filter((id) => present.has(id)).length;
    assert.ok(
      n === 0 || n === ids.length,
      `${where}: batch ${b} in flight survived in part (${n} of ${ids.length})`,
    );
  }
}

/**
 * The check after a power loss under `periodic` or `none`, where acknowledged writes may
 * be lost, but only from the end: the counter point names the last upsert that survived,
 * and every batch sent up to it must be there exactly (deletes up to it applied), nothing
 * after it. Batches acknowledged before `keepAckedBefore` (periodic: one fsync window
 * before the loss, with slack) must have survived. Returns the last surviving batch.
 */
export async function checkDurablePrefix(
  c: Collection,
  p: Progress,
  where: string,
  keepAckedBefore?: number,
): Promise<number> {
  const counter = await c.get('counter');
  const upTo = counter === undefined ? 0 : (counter.payload as { b: number }).b;
  const prefix: Progress = {
    ...p,
    acked: new Set([...p.sent].filter((b) => b <= upTo)),
    delAcked: new Set([...p.delAcked].filter((d) => d < upTo)),
  };
  await checkAcknowledged(c, prefix, where);
  for await (const pt of c.scan()) {
    if (pt.id === 'counter') continue;
    const b = Math.floor((pt.id as number) / PER_BATCH);
    assert.ok(
      b <= upTo,
      `${where}: point ${pt.id} of batch ${b} survived but batch ${upTo} is the last upsert that did`,
    );
  }
  if (keepAckedBefore !== undefined) {
    for (const [b, at] of p.ackedAt) {
      assert.ok(
        at >= keepAckedBefore || b <= upTo,
        `${where}: batch ${b}, acknowledged ${keepAckedBefore - at} ms before the fsync window, was lost`,
      );
    }
  }
  return upTo;
}
