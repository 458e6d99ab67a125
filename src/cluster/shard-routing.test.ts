/**
 * Shard routing is part of the cluster's format: pinned known answers (changing the hash
 * would move every point), UUIDs in either case on one shard, the id-bucket filter agreeing
 * with it, and splitOp putting every id of an operation on exactly one shard, in order
 * (fast-check).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PointOp } from '../engine/collection.js';
import { propertyParams } from '../../test/helpers/random.js';
import { decodeOpMessage, encodeOpMessage } from './shard-log.js';
import { Filter } from '../filter/filter-ast.js';
import { matchesFilter } from '../filter/filter-evaluator.js';
import { shardOf, shardSubject, splitOp, streamName } from './shard-routing.js';

describe('shard routing', () => {
  it('gives the pinned answers (FNV-1a of the canonical id text)', () => {
    // FNV-1a 32 of "a" is 0xe40c292c and of "foobar" 0xbf9cf968 (the hash's published test
    // vectors); an integer id hashes as its decimal text ("1": 0x340ca71c).
    assert.equal(shardOf('a', 2 ** 32 - 1), 0xe40c292c % (2 ** 32 - 1));
    assert.equal(shardOf('foobar', 1000), 0xbf9cf968 % 1000);
    assert.equal(shardOf(1, 2 ** 31), 0x340ca71c % 2 ** 31);
    const uuid = '5C56C793-69F3-4FBF-87E6-C4BF54C28C26';
    assert.equal(shardOf(uuid, 7), shardOf(uuid.toLowerCase(), 7));
    assert.equal(shardOf(7, 1), 0);
  });

  it('the filter a node answers some shards with matches exactly the ids of those shards', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.nat(), fc.uuid()),
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.nat(8)),
        (id, count, picked) => {
          const buckets = picked.filter((b) => b < count);
          const matches = matchesFilter(Filter.idBucket(count, buckets), {}, id);
          assert.equal(matches, buckets.includes(shardOf(id, count)));
        },
      ),
      propertyParams('idBucket filter', 300),
    );
  });

  it('names streams and subjects from the collection and shard', () => {
    assert.equal(streamName({ collection: 'docs', uid: 'ab12', shard: 3 }), 'QUIVER_docs_ab12_3');
    assert.equal(
      shardSubject({ collection: 'my-docs_2', uid: 'ab12', shard: 0 }),
      'quiver.ops.my-docs_2.ab12.0',
    );
  });

  it('splits an operation so that every id lands on exactly its shard, in order', () => {
    const id = fc.oneof(fc.nat(), fc.uuid());
    fc.assert(
      fc.property(
        fc.array(id, { maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        (ids, shards) => {
          const op: PointOp = { kind: 'delete', collection: 'c', ids };
          const parts = splitOp(op, shards);
          const seen: (number | string)[] = [];
          for (const [shard, part] of parts) {
            assert.equal(part.kind, 'delete');
            if (part.kind !== 'delete') return;
            assert.ok(part.ids.length > 0, 'no empty parts');
            for (const x of part.ids) assert.equal(shardOf(x, shards), shard);
            seen.push(...part.ids);
          }
          assert.equal(seen.length, ids.length);
          for (const [shard, part] of parts) {
            if (part.kind !== 'delete') continue;
            assert.deepEqual(
              part.ids,
              ids.filter((x) => shardOf(x, shards) === shard),
            );
          }
        },
      ),
      propertyParams('splitOp', 200),
    );
  });

  it('carries an operation through a stream message and refuses what is not one', () => {
    const op: PointOp = {
      kind: 'upsert',
      collection: 'c',
      dimension: 2,
      points: [{ id: 5, vector: new Float32Array([0.5, 0.25]), payloadJson: '{"a":1}' }],
    };
    const back = decodeOpMessage(encodeOpMessage(op), 'QUIVER_c_0', 9);
    assert.equal(back.kind, 'upsert');
    if (back.kind === 'upsert') {
      assert.deepEqual([...back.points[0]!.vector], [0.5, 0.25]);
      assert.equal(back.points[0]!.payloadJson, '{"a":1}');
    }
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array([250, 1, 2]),
      new TextEncoder().encode('hello'),
    ]) {
      assert.throws(
        () => decodeOpMessage(bad, 'QUIVER_c_0', 9),
        (e: Error & { code?: string; details?: { offset?: number } }) =>
          e.code === 'CORRUPT' && e.details?.offset === 9 && /QUIVER_c_0/.test(e.message),
      );
    }
  });
});
