/**
 * `?wait=false` writes are still durable (API.md: "Writes wait until durable … whatever
 * `?wait=` says"): a real `quiver serve` answers upserts, a payload update and a delete
 * sent with wait=false, is SIGKILLed the moment the last answer arrives, and a restarted
 * server has every one of them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from './server-helpers.js';

const DIM = 8;
const json = { 'content-type': 'application/json' };

async function send(url: string, method: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method, headers: json, body: JSON.stringify(body) });
  const answer = (await res.json()) as { result?: unknown };
  assert.equal(res.status, 200, JSON.stringify(answer));
  return answer.result;
}

test('wait=false writes are durable: SIGKILL right after the answer loses none of them', async (t) => {
  const data = join(tempDir(t, 'quiver-nowait-'), 'data');
  // The batch fsync window is widened so that an answer given before the write is durable
  // would have a real chance to be lost by the kill.
  const args = ['--data', data, '--search-threads', '0', '--batch-delay-ms', '50'];
  const first = await spawnServe(t, args);
  await send(`${first.url}/collections/c`, 'PUT', { vectors: { size: DIM, distance: 'Dot' } });
  const rand = rng(8);
  const vectors = new Map<number, number[]>();
  for (let id = 0; id < 600; id++) vectors.set(id, randomVector(rand, DIM));
  const points = `${first.url}/collections/c/points`;
  const upsert = async (batch: number): Promise<void> => {
    const ids = [...vectors.keys()].slice(batch * 200, batch * 200 + 200);
    const result = await send(`${points}?wait=false`, 'PUT', {
      points: ids.map((id) => ({ id, vector: vectors.get(id), payload: { batch } })),
    });
    assert.equal((result as { status: string }).status, 'completed');
  };
  await upsert(0);
  await upsert(1);
  await send(`${points}/payload?wait=false`, 'POST', { payload: { tag: 'kept' }, points: [7] });
  await send(`${points}/delete?wait=false`, 'POST', { points: [8, 9] });
  await upsert(2);
  // The last answer is in: kill at once, no chance to flush or write the clean mark.
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  const second = await spawnServe(t, args);
  const count = await send(`${second.url}/collections/c/points/count`, 'POST', { exact: true });
  assert.deepEqual(count, { count: vectors.size - 2 });
  const got = (await send(`${second.url}/collections/c/points`, 'POST', {
    ids: [0, 7, 8, 9, 599],
    with_vector: true,
  })) as { id: number; payload: Record<string, unknown>; vector: number[] }[];
  assert.deepEqual(
    got.map((p) => p.id).sort((a, b) => a - b),
    [0, 7, 599],
  );
  const byId = new Map(got.map((p) => [p.id, p]));
  assert.deepEqual(byId.get(7)?.payload, { batch: 0, tag: 'kept' });
  assert.deepEqual(byId.get(599)?.payload, { batch: 2 });
  assert.deepEqual(byId.get(599)?.vector.map(Math.fround), vectors.get(599)?.map(Math.fround));
  await second.stop();
});
