/**
 * The acknowledged-writes oracle of the crash tests: parses a writer child's progress file
 * (SEND / ACK / DELSEND / DELACK lines written synchronously) and checks a reopened
 * collection against it — every acknowledged point exact, nothing from unsent batches.
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
}

export function readProgress(path: string): Progress {
  const p: Progress = {
    sent: new Set(),
    acked: new Set(),
    delSent: new Set(),
    delAcked: new Set(),
    marks: new Set(),
  };
  if (!existsSync(path)) return p;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [what, n] = line.split(' ');
    const b = Number(n);
    if (what === 'SEND') p.sent.add(b);
    else if (what === 'ACK') p.acked.add(b);
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
  for (const id of seen) {
    if (id === 'counter') continue;
    const b = Math.floor((id as number) / PER_BATCH);
    assert.ok(p.sent.has(b), `${where}: point ${id} of batch ${b} appeared but was never sent`);
  }
}
