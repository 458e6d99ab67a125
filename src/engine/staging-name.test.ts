/**
 * Staging collection names: built from their target and counter, recognised as staging,
 * read back to their target (names with dashes and digits included), and never a name a
 * user could give a collection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStagingName, stagingName, stagingTarget } from './staging-name.js';
import { COLLECTION_NAME_PATTERN } from './validation.js';

describe('staging names', () => {
  it('name their target and counter', () => {
    assert.equal(stagingName('docs', 3), '.staging-docs-3');
  });

  it('read back to their target, dashes and digits in it included', () => {
    for (const target of ['docs', 'my-docs', 'a-1', 'x_2-3', 'Z'.repeat(64)]) {
      const name = stagingName(target, 42);
      assert.equal(isStagingName(name), true);
      assert.equal(stagingTarget(name), target);
    }
  });

  it('are never valid collection names', () => {
    assert.equal(COLLECTION_NAME_PATTERN.test(stagingName('docs', 1)), false);
  });

  it('are told apart from ordinary and malformed names', () => {
    assert.equal(isStagingName('docs'), false);
    assert.equal(isStagingName('staging-docs-1'), false);
    for (const name of ['docs', '.staging-', '.staging-docs', '.staging-docs-', '.staging--1']) {
      assert.equal(stagingTarget(name), undefined, name);
    }
    assert.equal(stagingTarget(`.staging-${'a'.repeat(65)}-1`), undefined, 'target too long');
    assert.equal(stagingTarget('.staging-docs-1x'), undefined);
  });
});
