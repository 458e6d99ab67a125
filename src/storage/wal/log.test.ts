/**
 * The Log interface's one value: FSYNC_POLICIES, the accepted values of the `fsync` option
 * (docs/API.md), which the engine and the server config validate against and list in their
 * error messages and help.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FSYNC_POLICIES } from './log.js';

test('FSYNC_POLICIES is exactly always, batch, periodic, none, in the documented order', () => {
  assert.deepEqual([...FSYNC_POLICIES], ['always', 'batch', 'periodic', 'none']);
  assert.equal(FSYNC_POLICIES.join(', '), 'always, batch, periodic, none');
});

test('FSYNC_POLICIES cannot be changed at run time', () => {
  assert.ok(Object.isFrozen(FSYNC_POLICIES));
});
