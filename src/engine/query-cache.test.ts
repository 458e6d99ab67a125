import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryCache } from './query-cache.js';
import { cacheProbe, sameQuery } from './search-cache.js';

const yes = (): boolean => true;

test('least recently used out first, within the byte capacity', () => {
  const cache = new QueryCache<string>(4000);
  const owner = {};
  // 850 bytes of value + key and bookkeeping: four fit in 4000, five do not.
  for (const k of ['a', 'b', 'c', 'd']) cache.set(owner, 0, k, k, 850);
  assert.equal(cache.get(owner, 0, 'a', yes), 'a'); // a is now the most recent
  cache.set(owner, 0, 'e', 'e', 850); // b (least recent) goes
  assert.equal(cache.get(owner, 0, 'b', yes), undefined);
  assert.equal(cache.get(owner, 0, 'a', yes), 'a');
  assert.equal(cache.get(owner, 0, 'c', yes), 'c');
  const s = cache.stats();
  assert.ok(s.bytes <= 4000);
  assert.equal(s.evictions, 1);
  assert.equal(s.hits, 3);
  assert.equal(s.misses, 1);
});

test('another generation or owner is a miss; invalidate drops only that owner', () => {
  const cache = new QueryCache<number>(1 << 20);
  const a = {};
  const b = {};
  cache.set(a, 1, 'k', 1, 10);
  cache.set(b, 1, 'j', 2, 10);
  assert.equal(cache.get(a, 2, 'k', yes), undefined, 'a write moved the generation');
  assert.equal(cache.stats().invalidations, 1);
  cache.set(a, 2, 'k', 3, 10);
  assert.equal(cache.get(b, 2, 'k', yes), undefined, 'another collection never gets it');
  cache.set(a, 2, 'k', 3, 10);
  cache.invalidate(a);
  assert.equal(cache.get(a, 2, 'k', yes), undefined);
  assert.equal(cache.get(b, 1, 'j', yes), 2);
});

test('an answer the caller does not accept is a miss; oversized answers are not kept', () => {
  const cache = new QueryCache<number>(4000);
  cache.set({}, 0, 'big', 1, 2000);
  assert.equal(cache.stats().entries, 0, 'over a quarter of the capacity');
  const o = {};
  cache.set(o, 0, 'k', 7, 10);
  assert.equal(
    cache.get(o, 0, 'k', (v) => v === 8),
    undefined,
  );
  assert.equal(cache.get(o, 0, 'k', yes), 7, 'kept for the request it was made for');
  cache.resize(0);
  assert.equal(cache.stats().entries, 0);
  assert.equal(cache.enabled, false);
});

test('keys: options and filters part them; queries are told apart bit for bit', () => {
  const q = new Float32Array([0.5, -0, 1]);
  const o = {
    k: 10,
    ef: 64,
    exact: false,
    withPayload: true,
    withVector: false,
    quantization: undefined,
  };
  const key = cacheProbe(q, o, { a: 1 })!.key;
  assert.notEqual(key, cacheProbe(q, { ...o, k: 11 }, { a: 1 })!.key);
  for (const quantization of [{ ignore: true }, { rescore: false }, { oversampling: 2 }]) {
    assert.notEqual(key, cacheProbe(q, { ...o, quantization }, { a: 1 })!.key, 'quantization');
  }
  assert.notEqual(key, cacheProbe(q, { ...o, withVector: true }, { a: 1 })!.key);
  assert.notEqual(key, cacheProbe(q, o, { a: 2 })!.key);
  assert.equal(key, cacheProbe(Float32Array.from(q), o, { a: 1 })!.key);
  assert.equal(key, cacheProbe([0.5, -0, 1], o, { a: 1 })!.key, 'numbers as float32');
  assert.equal(cacheProbe(q, o, { a: /x/ }), undefined, 'not plain JSON: not cached');
  assert.equal(cacheProbe(q, o, { a: Number.NaN }), undefined);
  assert.equal(cacheProbe(q, o, { a: new Date(0) }), undefined, 'a Date is not a string');
  assert.equal(
    cacheProbe(new Uint8Array([1, 2, 3]) as unknown as number[], o, undefined),
    undefined,
  );
  assert.equal(cacheProbe(['0.5', 0, 1] as unknown as number[], o, undefined), undefined);
  assert.equal(cacheProbe({ length: 2 }, o, undefined), undefined);
  assert.ok(sameQuery(q, Float32Array.from(q)));
  assert.equal(sameQuery(q, new Float32Array([0.5, 0, 1])), false, '-0 is not 0');
  assert.equal(sameQuery(q, new Float32Array([0.5, -0])), false);
});
