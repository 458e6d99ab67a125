/**
 * The session token: written by a write, read back by a read. It round-trips, and hostile
 * or mistyped headers are a 400 that shows the expected form, never a wait on garbage.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { propertyParams } from '../../test/helpers/random.js';
import { formatToken, parseToken } from './cluster-consistency.js';

describe('session token', () => {
  it('round-trips shard:sequence pairs', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.integer({ min: 0, max: 63 }).map(String),
          fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        ),
        (raw) => {
          const token = Object.fromEntries(Object.entries(raw).map(([k, v]) => [Number(k), v]));
          assert.deepEqual(parseToken(formatToken(token)), token);
        },
      ),
      propertyParams('session token', 200),
    );
  });

  it('refuses what a write never returns, with the expected form', () => {
    for (const bad of ['0:', ':5', 'a:1', '0:1;1:2', '0:-1', '1:2:3', `0:${'9'.repeat(40)}`]) {
      assert.throws(
        () => parseToken(bad),
        (e: Error & { statusCode?: number }) => /shard:sequence pairs/.test(e.message),
        bad,
      );
    }
    assert.deepEqual(parseToken(' 0:12 , 1:7 '), { 0: 12, 1: 7 });
  });
});
