/**
 * containedPath: whatever a caller passes, an accepted path is strictly under the root
 * (property test over hostile strings), and the known attacks are refused.
 */
import assert from 'node:assert/strict';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { containedPath, pathEscape } from './contained-path.js';
import { isQuiverError } from './quiver-error.js';

const ROOT = '/srv/quiver/snapshots';

/** Segments an attacker would try, mixed with ordinary names. */
const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '...', '..\\..', '\0', '~', 'C:', '\\', '/', '%2e%2e', 'a..b'),
  fc.string({ maxLength: 6 }),
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/),
);
const hostile = fc.oneof(
  fc.array(segment, { maxLength: 6 }).map((s) => s.join('/')),
  fc.array(segment, { maxLength: 6 }).map((s) => s.join('\\')),
  fc.string({ maxLength: 30 }),
);

test('no accepted path ever leaves the root', () => {
  fc.assert(
    fc.property(hostile, (rel) => {
      if (pathEscape(ROOT, rel) !== undefined) {
        assert.throws(
          () => containedPath(ROOT, rel),
          (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT'),
        );
        return;
      }
      const full = containedPath(ROOT, rel);
      assert.ok(full.startsWith(`${resolve(ROOT)}${sep}`), full);
      const back = relative(ROOT, full);
      assert.ok(back !== '' && back.split(sep)[0] !== '..' && !isAbsolute(back), back);
    }),
    { numRuns: 5000 },
  );
});

test('the known attacks are refused with a reason', () => {
  for (const [rel, why] of [
    ['../outside', '".."'],
    ['../../etc/passwd', '".."'],
    ['docs/../../outside', '".."'],
    ['..\\..\\outside', '".."'],
    ['/etc/passwd', 'absolute'],
    ['C:\\Windows', 'absolute'],
    ['\\\\server\\share', 'absolute'],
    ['a\0b', 'NUL'],
    ['', 'empty'],
    ['.', 'outside'],
  ] as const) {
    const reason = pathEscape(ROOT, rel);
    assert.ok(reason?.includes(why), `${JSON.stringify(rel)}: ${reason}`);
  }
  assert.equal(containedPath(ROOT, 'docs/docs-1.snapshot'), `${ROOT}/docs/docs-1.snapshot`);
  // A sibling sharing the root's prefix is outside (the separator is part of the check).
  assert.notEqual(pathEscape('/srv/a', '../ab/x'), undefined);
});
