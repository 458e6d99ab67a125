/**
 * Answers on the wire: a getMany answer over the message limit travels in parts that
 * together hold every record once, in order; any other answer over the limit is refused
 * with what to do; errors keep their code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QuiverError } from '../common/quiver-error.js';
import type { PointId } from '../common/types.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { ShardReadRequest, WireAnswer } from './shard-read.js';
import { encodeAnswer, errorOfWire, wireError } from './shard-read.js';

const decode = (b: Uint8Array): WireAnswer => JSON.parse(new TextDecoder().decode(b)) as WireAnswer;

describe('shard read answers on the wire', () => {
  it('cuts a large getMany into parts that reassemble exactly', () => {
    const ids: PointId[] = Array.from({ length: 50 }, (_, i) => (i % 7 === 0 ? `p-${i}` : i));
    // Every third id is missing from the answer, as a getMany leaves unknown ids out.
    const records: PointRecord[] = ids
      .filter((_, i) => i % 3 !== 1)
      .map((id) => ({ id, vector: [1, 2, 3], payload: { text: 'x'.repeat(200) } }));
    const base = { collection: 'c', uid: 'u', shards: [0] };
    let req: ShardReadRequest = { ...base, op: 'getMany', ids, withVector: true };
    const got: PointRecord[] = [];
    let messages = 0;
    for (;;) {
      const bytes = encodeAnswer(
        req,
        records.filter((r) => req.op === 'getMany' && req.ids.includes(r.id)),
        2_000,
      );
      assert.ok(bytes.length <= 2_000);
      messages++;
      const a = decode(bytes);
      assert.equal(a.ok, true);
      if (!a.ok) return;
      got.push(...(a.result as PointRecord[]));
      if (a.rest === undefined || a.rest.length === 0) break;
      req = { ...base, op: 'getMany', ids: [...a.rest], withVector: true };
    }
    assert.ok(messages > 3, `split into ${messages} messages`);
    assert.deepEqual(got, records);
  });

  it('refuses another answer over the limit, and one record that alone is too big', () => {
    const base = { collection: 'c', uid: 'u', shards: [0] };
    const ids = Array.from({ length: 500 }, (_, i) => i);
    assert.throws(
      () => encodeAnswer({ ...base, op: 'ids' }, ids, 100),
      (e: Error & { code?: string }) =>
        e.code === 'INVALID_ARGUMENT' && /max_payload of 100/.test(e.message),
    );
    const big: PointRecord[] = [{ id: 1, vector: [], payload: { t: 'y'.repeat(500) } }];
    assert.throws(
      () => encodeAnswer({ ...base, op: 'getMany', ids: [1], withVector: false }, big, 100),
      /max_payload/,
    );
  });

  it('keeps the code of an error across the wire', () => {
    const a = wireError(new QuiverError('UNAVAILABLE', 'not caught up', {}));
    assert.deepEqual(a, { ok: false, code: 'UNAVAILABLE', message: 'not caught up' });
    if (a.ok) return;
    const back = errorOfWire('node-b', a);
    assert.equal(back.code, 'UNAVAILABLE');
    assert.match(back.message, /^Node node-b: not caught up/);
    assert.equal((wireError(new TypeError('boom')) as { code: string }).code, 'INTERNAL');
  });
});
