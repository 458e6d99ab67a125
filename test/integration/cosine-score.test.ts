/**
 * Cosine scores stay within [-1, 1] (issue 10 item 18): vectors whose float32 normalisation
 * makes their dot product with themselves 1.00000004 score exactly 1 against themselves
 * (and -1 against their negation), in the growing segment and in a sealed one, exact scan
 * and graph search alike.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Quiver } from '../../src/engine/quiver.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Each of these gave a score of 1.00000000639…, 1.0000000395… and 1.0000000268… before. */
const OVER_ONE = [
  [0.1, 0.2857142857142857, 0.3],
  [0.1, 0.8571428571428571, 0.3],
  [0.1, 1, 0.3],
];

test('cosine scores are clamped to [-1, 1]', async (t) => {
  const db = await Quiver.open(tempDir(t, 'quiver-cosine-'), { fsync: 'none' });
  const c = await db.createCollection('c', { dimension: 3, metric: 'cosine' });
  await c.upsert(OVER_ONE.map((vector, id) => ({ id, vector })));
  const check = async (where: string): Promise<void> => {
    for (const [id, v] of OVER_ONE.entries()) {
      for (const exact of [true, false]) {
        const [best] = await c.search(v, { k: 1, exact });
        assert.equal(best?.id, id, `${where}: nearest of ${id}`);
        assert.equal(best.score, 1, `${where}, exact ${exact}: score of ${id} against itself`);
        const far = await c.search(
          v.map((x) => -x),
          { k: 3, exact },
        );
        for (const h of far) assert.ok(h.score >= -1, `${where}: ${h.score} below -1`);
      }
    }
  };
  await check('growing segment');
  await db.checkpoint();
  await check('sealed segment');
  await db.close();
});
