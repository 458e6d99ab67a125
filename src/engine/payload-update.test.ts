/**
 * applyPayloadUpdate, shared by the live write path and WAL replay: each mode's result,
 * and that the old payload is never changed (a reader may still hold it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Payload } from '../common/types.js';
import { applyPayloadUpdate } from './payload-update.js';

const old: Payload = Object.freeze({ a: 1, b: 'x', nested: { c: true } });

describe('applyPayloadUpdate', () => {
  it('merge: sets the given keys over the old ones, keeping the rest', () => {
    const next = applyPayloadUpdate(old, 'merge', '{"b":"y","d":[1,2]}', []);
    assert.deepEqual(next, { a: 1, b: 'y', nested: { c: true }, d: [1, 2] });
  });

  it('overwrite: replaces the whole payload', () => {
    assert.deepEqual(applyPayloadUpdate(old, 'overwrite', '{"z":0}', []), { z: 0 });
  });

  it('delete-keys: drops the named keys, ignoring absent ones', () => {
    assert.deepEqual(applyPayloadUpdate(old, 'delete-keys', '', ['a', 'missing']), {
      b: 'x',
      nested: { c: true },
    });
  });

  it('clear: leaves an empty payload', () => {
    assert.deepEqual(applyPayloadUpdate(old, 'clear', '', []), {});
  });

  it('never mutates the old payload and returns a new object', () => {
    const copy = structuredClone(old);
    for (const mode of ['merge', 'overwrite', 'delete-keys', 'clear'] as const) {
      const next = applyPayloadUpdate(old, mode, '{"a":2}', ['a']);
      assert.notEqual(next, old, mode);
    }
    assert.deepEqual(old, copy);
  });
});
