/**
 * Point validation of upserts: a batch prepared at once (vectors sharing buffers) equals
 * its points prepared one by one, each value a Float32Array cannot hold is refused naming
 * its point and index, and payloads are checked to the same rules whatever their shape,
 * stored as a copy whose JSON text is the logged one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuiverError } from '../common/quiver-error.js';
import type { Payload } from '../common/types.js';
import {
  buildCollectionConfig,
  preparePayload,
  preparePoint,
  preparePoints,
} from './validation.js';

const euclid = buildCollectionConfig('c', { dimension: 3, metric: 'euclid' });
const cosine = buildCollectionConfig('c', { dimension: 3, metric: 'cosine' });

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(isQuiverError(e), String(e));
    return e.message;
  }
  assert.fail('did not throw');
}

describe('preparePoints', () => {
  test('a batch equals its points prepared one by one, each vector its own values', () => {
    const points = [
      { id: 1, vector: [1, 2, 3], payload: { a: 1 } },
      { id: 'x', vector: new Float64Array([3, 0, 4]) },
      { id: 2, vector: new Float32Array([0.5, -1, 2]), payload: {} },
    ];
    for (const config of [euclid, cosine]) {
      const batch = preparePoints(points, config, 1000);
      const one = points.map((p, i) => preparePoint(p, i, config, 1000));
      assert.deepEqual(batch, one);
      batch[0]!.vector[0] = 42;
      assert.deepEqual(batch[1]!.vector, one[1]!.vector, 'views do not overlap');
    }
  });

  test('batches larger than one vector buffer keep every vector', () => {
    // 16 vectors of the largest dimension fill one 4 MiB buffer: 40 take three.
    const dim = 65_536;
    const wide = buildCollectionConfig('w', { dimension: dim, metric: 'dot' });
    const ids = Array.from({ length: 40 }, (_, i) => i);
    const points = ids.map((id) => ({ id, vector: new Float32Array(dim).fill(id) }));
    const batch = preparePoints(points, wide, 1000);
    assert.deepEqual(
      batch.map((p) => [p.vector[0], p.vector[dim - 1], p.vector.length]),
      ids.map((v) => [v, v, dim]),
    );
  });

  test('a value a 32-bit float cannot hold is refused, naming the point and the index', () => {
    const cases: [unknown, string][] = [
      [[1, Number.NaN, 3], 'points[1].vector: vector[1] is NaN'],
      [[1, 2, 'x'], 'points[1].vector: vector[2] is x'],
      [[1, 2, null], 'points[1].vector: vector[2] is null'],
      [new Float32Array([1, Infinity, 3]), 'points[1].vector: vector[1] is Infinity'],
      [new Float64Array([1, 2, 1e39]), 'points[1].vector: vector[2] = 1e+39 overflows'],
      [[1e39, 2, 3], 'points[1].vector: vector[0] = 1e+39 overflows'],
    ];
    for (const [vector, start] of cases) {
      const points = [
        { id: 0, vector: [0, 0, 1] },
        { id: 1, vector },
      ];
      assert.ok(messageOf(() => preparePoints(points, euclid, 1000)).startsWith(start), start);
    }
    assert.match(
      messageOf(() => preparePoints([{ id: 0, vector: [1, 2] }], euclid, 1000)),
      /^points\[0\]\.vector: vector has 2 values/,
    );
    assert.match(
      messageOf(() => preparePoints([{ id: -1, vector: [1, 2, 3] }], euclid, 1000)),
      /^points\[0\]\.id -1 is not a valid point id/,
    );
  });

  test('the stored payload is a copy whose JSON text is the logged one', () => {
    const payload: Payload = { tag: 'é', n: [1, { deep: true }] };
    const [p] = preparePoints([{ id: 1, vector: [1, 2, 3], payload }], euclid, 1000);
    assert.equal(p!.payloadJson, JSON.stringify(payload));
    assert.deepEqual(p!.payload, payload);
    (payload['n'] as Payload[])[1]!['deep'] = false;
    assert.deepEqual(p!.payload, { tag: 'é', n: [1, { deep: true }] });
  });
});

describe('payload rules', () => {
  const nest = (depth: number, leaf: unknown): unknown => {
    let v = leaf;
    for (let i = 0; i < depth; i++) v = [v];
    return { v };
  };
  const refused = (payload: unknown): boolean => {
    try {
      preparePayload(payload, 'c', 'p', 1 << 20);
      return false;
    } catch (e) {
      assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'), String(e));
      return true;
    }
  };

  test('bad values anywhere are refused with the path that names them', () => {
    const bad: [unknown, RegExp][] = [
      [{ a: [1, { b: Number.NaN }] }, /p\.payload\.a\[1\]\.b is NaN/],
      [{ a: { d: new Date(0) } }, /p\.payload\.a\.d is a Date/],
      [{ a: [undefined] }, /p\.payload\.a\[0\] is a undefined/],
      [{ f: () => 1 }, /p\.payload\.f is a function/],
      [{ big: 1n }, /p\.payload\.big is a bigint/],
    ];
    for (const [payload, message] of bad) {
      assert.match(
        messageOf(() => preparePayload(payload, 'c', 'p', 1 << 20)),
        message,
      );
    }
  });

  test('the depth limit is the same for every kind of leaf', () => {
    for (const leaf of [1, 'x', null, true, {}, []]) {
      assert.equal(refused(nest(62, leaf)), false, `62 levels of ${JSON.stringify(leaf)}`);
      assert.equal(refused(nest(70, leaf)), true, `70 levels of ${JSON.stringify(leaf)}`);
    }
    // The exact boundary: the last depth accepted is the first depth refused minus one.
    const first = [60, 61, 62, 63, 64, 65, 66].find((d) => refused(nest(d, 1)));
    assert.ok(first !== undefined);
    for (const leaf of ['x', null, {}, []]) {
      assert.equal(refused(nest(first - 1, leaf)), false);
      assert.equal(refused(nest(first, leaf)), true);
    }
  });
});
