/**
 * copyJson: equal to its input, sharing no object with it (fast-check over JSON values),
 * and a "__proto__" key stays data.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { copyJson } from './json-copy.js';
import type { JsonValue } from './types.js';

describe('copyJson', () => {
  it('equals the value and shares no object or array with it', () => {
    const shared = (a: JsonValue, b: JsonValue): boolean => {
      if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false;
      if (a === b) return true;
      const x = a as Record<string, JsonValue>;
      const y = b as Record<string, JsonValue>;
      return Object.keys(x).some((k) => shared(x[k]!, y[k]!));
    };
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = copyJson(v as JsonValue);
        assert.deepStrictEqual(c, v);
        assert.equal(shared(c, v as JsonValue), false);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a "__proto__" key as data, not as the prototype', () => {
    const v = JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}') as JsonValue;
    const c = copyJson(v) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(c), Object.prototype);
    assert.deepEqual(Object.keys(c), ['__proto__', 'a']);
    assert.equal((c as { polluted?: unknown }).polluted, undefined);
    assert.deepStrictEqual(c, v);
  });
});
