/**
 * Shard keys without a cluster: a write naming keys goes to exactly the shard its id hashes
 * to within each key, marked with the key; the filter a node answers some shards with
 * matches exactly the points of those shards, and agrees with inShards (fast-check); keys
 * are checked as Qdrant checks them; creating and dropping keys renumbers nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isQuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import type { PointOp } from '../engine/collection.js';
import { matchesFilter } from '../filter/filter-evaluator.js';
import { propertyParams } from '../../test/helpers/random.js';
import type { ClusterCollectionDef } from './cluster-meta.js';
import {
  MAX_CUSTOM_SHARDS,
  SHARD_KEY_FIELD,
  inShards,
  liveShards,
  resolveKeys,
  shardFilter,
  shardInKey,
  splitByKeys,
  stripKey,
  tagOp,
  withShardKey,
  withoutShardKey,
} from './shard-keys.js';

const base: ClusterCollectionDef = {
  name: 'c',
  uid: 'u',
  config: { dimension: 2 },
  shards: 0,
  replicas: 1,
  createdAt: '2025-01-01T00:00:00Z',
  custom: { shardsPerKey: 2, keys: [] },
};
/** Key "a" owns shards 0,1; key 7 owns 2,3,4. */
const def = withShardKey(withShardKey(base, 'a', 2, undefined), 7, 3, undefined);

describe('shard keys', () => {
  it('numbers shards per key and never reuses a dropped key’s', () => {
    assert.deepEqual(liveShards(def), [0, 1, 2, 3, 4]);
    assert.deepEqual(def.custom?.keys, [
      { key: 'a', shards: [0, 1] },
      { key: 7, shards: [2, 3, 4] },
    ]);
    const dropped = withoutShardKey(def, 'a');
    assert.deepEqual(liveShards(dropped), [2, 3, 4]);
    const again = withShardKey(dropped, 'a', 1, undefined);
    assert.deepEqual(again.custom?.keys.at(-1), { key: 'a', shards: [5] });
    assert.throws(
      () => withShardKey(def, 7, 1, undefined),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(
      () => withoutShardKey(def, 'nope'),
      (e) => isQuiverError(e, 'COLLECTION_NOT_FOUND'),
    );
  });

  it('caps the live shards of a collection, counting only keys not dropped', () => {
    let full = base;
    for (let k = 0; k < MAX_CUSTOM_SHARDS / 4; k++) full = withShardKey(full, k, 4, undefined);
    assert.equal(liveShards(full).length, MAX_CUSTOM_SHARDS);
    assert.throws(
      () => withShardKey(full, 'one-more', 1, undefined),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /limit of 256/.test(String(e)),
    );
    // A dropped key's shards no longer count, though its numbers are never reused.
    const room = withShardKey(withoutShardKey(full, 0), 'one-more', 4, undefined);
    assert.equal(liveShards(room).length, MAX_CUSTOM_SHARDS);
    assert.deepEqual(room.custom?.keys.at(-1)?.shards, [256, 257, 258, 259]);
  });

  it('checks the keys a request names', () => {
    assert.equal(resolveKeys(def, undefined, false), undefined);
    assert.throws(
      () => resolveKeys(def, undefined, true),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /Shard key not specified/.test(String(e)),
    );
    assert.throws(
      () => resolveKeys(def, ['b'], false),
      (e) => isQuiverError(e, 'COLLECTION_NOT_FOUND'),
    );
    // "7" and 7 are different keys, as in Qdrant.
    assert.throws(
      () => resolveKeys(def, ['7'], false),
      (e) => isQuiverError(e, 'COLLECTION_NOT_FOUND'),
    );
    const { custom: _custom, ...plain } = base;
    const auto: ClusterCollectionDef = { ...plain, shards: 2 };
    assert.throws(
      () => resolveKeys(auto, ['a'], false),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    assert.deepEqual(
      resolveKeys(def, [7, 'a', 7], true)?.map((k) => k.key),
      [7, 'a'],
    );
  });

  it('marks payloads with the key and keeps the mark through payload updates', () => {
    const payload = (op: PointOp): unknown =>
      op.kind === 'payload' ? JSON.parse(op.payloadJson) : undefined;
    const ids: PointId[] = [1];
    const merge: PointOp = {
      kind: 'payload',
      collection: 'c',
      ids,
      mode: 'merge',
      payloadJson: `{"x":1,"${SHARD_KEY_FIELD}":"forged"}`,
      keys: [],
    };
    assert.deepEqual(payload(tagOp(merge, 'a')), { x: 1, [SHARD_KEY_FIELD]: 'a' });
    const clear: PointOp = { ...merge, mode: 'clear', payloadJson: '' };
    assert.deepEqual(tagOp(clear, 7), {
      ...clear,
      mode: 'overwrite',
      payloadJson: `{"${SHARD_KEY_FIELD}":7}`,
    });
    const delKeys: PointOp = { ...merge, mode: 'delete-keys', keys: ['x', SHARD_KEY_FIELD] };
    assert.deepEqual(tagOp(delKeys, 'a'), { ...delKeys, keys: ['x'] });
    assert.deepEqual(stripKey({ x: 1, [SHARD_KEY_FIELD]: 'a' }), { x: 1 });
  });

  it('a write goes to its id’s shard within each key; shard filters match exactly', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.oneof(fc.nat(), fc.uuid()), { minLength: 1, maxLength: 40 }),
        fc.subarray([0, 1, 2, 3, 4]),
        fc.constantFrom<readonly ('a' | 7)[]>(['a'], [7], ['a', 7]),
        (ids, asked, named) => {
          const keys = resolveKeys(def, named, true)!;
          const op: PointOp = {
            kind: 'upsert',
            collection: 'c',
            dimension: 2,
            points: ids.map((id) => ({
              id,
              vector: new Float32Array([1, 0]),
              payloadJson: '{"n":1}',
            })),
          };
          const parts = splitByKeys(def, op, keys);
          const stored: { id: PointId; payload: Payload; shard: number }[] = [];
          for (const [shard, part] of parts) {
            assert.equal(part.kind, 'upsert');
            if (part.kind !== 'upsert') continue;
            for (const p of part.points) {
              const payload = JSON.parse(p.payloadJson) as Payload;
              const key = keys.find((k) => k.key === payload[SHARD_KEY_FIELD])!;
              assert.equal(shardInKey(key, p.id), shard);
              stored.push({ id: p.id, payload, shard });
            }
          }
          assert.equal(stored.length, ids.length * keys.length);
          const filter = shardFilter(def, asked);
          const set = new Set(asked);
          for (const p of stored) {
            const want = set.has(p.shard);
            assert.equal(matchesFilter(filter, p.payload, p.id), want);
            assert.equal(inShards(def, set, p.id, p.payload), want);
          }
        },
      ),
      propertyParams('shard key routing', 100),
    );
  });
});
