/**
 * Segment file encoding (docs/FORMAT.md §5): the payload and vector sections are, byte
 * for byte, the layout written value by value (u32 length + UTF-8 per slot; little-endian
 * floats), whatever the text, and a file decodes back to the data it was made from.
 */
import { PRODUCT_COMPRESSIONS, subDimOf, subspacesOf } from '../../ann/product-quantizer.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter, utf8Encode } from '../../common/bytes.js';
import { crc32c } from '../../common/crc32c.js';
import { propertyParams } from '../../../test/helpers/random.js';
import { SEGMENT_HEADER_SIZE, SegmentSection } from '../format.js';
import { isQuiverError } from '../../common/quiver-error.js';
import { decodeSegment, encodeSegment, type SegmentData } from './segment-file.js';

/** The bytes of section `kind`, found through the file's section table. */
function section(file: Uint8Array, data: SegmentData, kind: number): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const tableStart = SEGMENT_HEADER_SIZE + utf8Encode(data.collection).length;
  for (let e = tableStart; ; e += 24) {
    if (view.getUint32(e, true) !== kind) continue;
    const offset = view.getUint32(e + 8, true);
    return file.subarray(offset, offset + view.getUint32(e + 16, true));
  }
}

const dataArb: fc.Arbitrary<SegmentData> = fc
  .record({
    dimension: fc.integer({ min: 1, max: 6 }),
    slots: fc.array(
      fc.record({
        id: fc.option(fc.oneof(fc.maxSafeNat(), fc.string({ minLength: 1 })), { nil: undefined }),
        payload: fc.oneof(
          fc.constant(''),
          fc.json({ maxDepth: 2 }),
          fc.string({ unit: 'binary', maxLength: 20 }),
        ),
      }),
      { maxLength: 12 },
    ),
  })
  .chain(({ dimension, slots }) =>
    fc
      .float32Array({
        minLength: dimension * slots.length,
        maxLength: dimension * slots.length,
        noNaN: true,
      })
      .map((vectors): SegmentData => ({
        segmentId: 3,
        collection: 'cé',
        dimension,
        metric: 'dot',
        minLsn: 1,
        maxLsn: 9,
        ids: slots.map((s) => s.id),
        payloads: slots.map((s) => s.payload),
        vectors,
        graph: undefined,
      })),
  );

describe('segment file encoding', () => {
  test('payload and vector sections are the value-by-value layout; files decode back', () => {
    fc.assert(
      fc.property(dataArb, (data) => {
        const file = encodeSegment(data);
        const payloads = new ByteWriter(16);
        for (const p of data.payloads) {
          const b = utf8Encode(p);
          payloads.u32(b.length).bytes(b);
        }
        assert.deepEqual(section(file, data, SegmentSection.PAYLOADS), payloads.finish());
        const vectors = new ByteWriter(16).f32s(data.vectors).finish();
        assert.deepEqual(section(file, data, SegmentSection.VECTORS), vectors);
        const back = decodeSegment(file, 'seg');
        assert.deepEqual(
          back.payloads,
          data.payloads.map((p) => new TextDecoder().decode(utf8Encode(p))),
        );
        assert.deepEqual(back.vectors, data.vectors);
        assert.deepEqual(back.ids, data.ids);
        for (const kind of [SegmentSection.IDS, SegmentSection.PAYLOADS, SegmentSection.VECTORS]) {
          assert.equal(section(file, data, kind).byteOffset % 8, 0, `section ${kind} aligned`);
        }
        // The same file one byte into a buffer: vectors no longer on a float boundary.
        const shifted = new Uint8Array(file.length + 1).subarray(1);
        shifted.set(file);
        const copied = decodeSegment(shifted, 'seg');
        assert.deepEqual(copied.vectors, data.vectors);
        assert.equal(copied.vectors.byteOffset % 4, 0);
      }),
      propertyParams('segment sections layout', 200),
    );
  });

  test('reads files whose sections touch (format 1.3 and before)', () => {
    const data = fc.sample(
      dataArb.filter((d) => d.ids.length > 2),
      { numRuns: 1, seed: 7 },
    )[0]!;
    const file = encodeSegment(data);
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const tableStart = SEGMENT_HEADER_SIZE + utf8Encode(data.collection).length;
    // Rebuild the file with the sections back to back after the table, as 1.3 wrote them.
    let moved = 0;
    let at = tableStart + 3 * 24 + 4;
    const packed = new Uint8Array(file.length);
    packed.set(file.subarray(0, at));
    const pv = new DataView(packed.buffer);
    for (let i = 0; i < 3; i++) {
      const e = tableStart + i * 24;
      const bytes = file.subarray(
        view.getUint32(e + 8, true),
        view.getUint32(e + 8, true) + view.getUint32(e + 16, true),
      );
      if (view.getUint32(e + 8, true) !== at) moved++;
      pv.setUint32(e + 8, at, true);
      packed.set(bytes, at);
      at += bytes.length;
    }
    pv.setUint32(
      tableStart + 3 * 24,
      crc32c(packed.subarray(SEGMENT_HEADER_SIZE, tableStart + 3 * 24)),
      true,
    );
    const back = decodeSegment(packed.subarray(0, at), 'seg');
    assert.deepEqual(back.vectors, data.vectors);
    assert.deepEqual(back.ids, data.ids);
    assert.ok(moved > 0, 'the 1.4 file had padding to remove');
  });

  test('the int8 quantizer round-trips; a flipped byte or impossible values are CORRUPT', () => {
    const data = fc.sample(dataArb, { numRuns: 1, seed: 8 })[0]!;
    const quantizer = {
      kind: 'scalar' as const,
      quantile: Math.fround(0.99),
      scale: Math.fround(0.0123),
      offsets: Float32Array.from({ length: data.dimension }, (_, d) => d - 1.25),
    };
    const file = encodeSegment({ ...data, quantizer });
    assert.deepEqual(decodeSegment(file, 'seg').quantizer, quantizer);
    assert.equal(decodeSegment(encodeSegment(data), 'seg').quantizer, undefined, 'none written');
    const quant = section(file, data, SegmentSection.QUANT);
    for (let i = 0; i < quant.length; i++) {
      const damaged = file.slice();
      damaged[quant.byteOffset - file.byteOffset + i]! ^= 0x10;
      assert.throws(
        () => decodeSegment(damaged, 'seg'),
        (e) => isQuiverError(e, 'CORRUPT') && /section 5 checksum/.test(e.message),
        `byte ${i}`,
      );
    }
    for (const bad of [
      { ...quantizer, scale: 0 },
      { ...quantizer, scale: Infinity },
      { ...quantizer, quantile: 0.2 },
      { ...quantizer, offsets: new Float32Array(data.dimension).fill(NaN) },
      { ...quantizer, offsets: new Float32Array(data.dimension + 1) },
    ]) {
      assert.throws(
        () => decodeSegment(encodeSegment({ ...data, quantizer: bad }), 'seg'),
        (e) => isQuiverError(e, 'CORRUPT') && /quantizer/.test(e.message),
        JSON.stringify(bad),
      );
    }
  });

  test('the product quantizer round-trips; impossible values are CORRUPT', () => {
    const data = fc.sample(dataArb, { numRuns: 1, seed: 11 })[0]!;
    for (const compression of PRODUCT_COMPRESSIONS) {
      const values = subspacesOf(data.dimension, compression) * 256 * subDimOf(compression);
      const quantizer = {
        kind: 'product' as const,
        compression,
        dimension: data.dimension,
        centroids: Float32Array.from({ length: values }, (_, i) => (i % 97) / 7 - 3),
      };
      const file = encodeSegment({ ...data, quantizer });
      assert.deepEqual(decodeSegment(file, 'seg').quantizer, quantizer);
      assert.equal(decodeSegment(file, 'seg').productCodes, undefined, 'no codes written');
      // With the codes: a row of a byte per subspace for every slot.
      const width = subspacesOf(data.dimension, compression);
      const productCodes = Uint8Array.from({ length: data.ids.length * width }, (_, i) => i * 7);
      const withCodes = decodeSegment(encodeSegment({ ...data, quantizer, productCodes }), 'seg');
      assert.deepEqual(withCodes.quantizer, quantizer);
      assert.deepEqual(Array.from(withCodes.productCodes ?? []), Array.from(productCodes));
      assert.throws(
        () =>
          decodeSegment(
            encodeSegment({ ...data, quantizer, productCodes: productCodes.subarray(1) }),
            'seg',
          ),
        (e) => isQuiverError(e, 'CORRUPT') && /rows of \d+ code bytes/.test(e.message),
      );
    }
    const good = {
      kind: 'product' as const,
      compression: 'x16' as const,
      dimension: data.dimension,
      centroids: new Float32Array(subspacesOf(data.dimension, 'x16') * 256 * 4),
    };
    for (const bad of [
      { ...good, centroids: good.centroids.map((v, i) => (i === 5 ? NaN : v)) },
      { ...good, centroids: new Float32Array(good.centroids.length + 1) },
    ]) {
      assert.throws(
        () => decodeSegment(encodeSegment({ ...data, quantizer: bad }), 'seg'),
        (e) => isQuiverError(e, 'CORRUPT') && /quantizer/.test(e.message),
        `${bad.compression} ${bad.centroids.length}`,
      );
    }
  });

  test('the binary quantizer round-trips; impossible values are CORRUPT', () => {
    const data = fc.sample(dataArb, { numRuns: 1, seed: 9 })[0]!;
    const perDim = (f: (d: number) => number): Float32Array =>
      Float32Array.from({ length: data.dimension }, (_, d) => f(d));
    const quantizer = {
      kind: 'binary' as const,
      encoding: 'two_bits' as const,
      queryEncoding: 'scalar4bits' as const,
      offsets: perDim((d) => d - 1.25),
      thresholds: perDim((d) => d * 0.5),
      magnitudes: perDim((d) => d + 0.25),
    };
    const file = encodeSegment({ ...data, quantizer });
    assert.deepEqual(decodeSegment(file, 'seg').quantizer, quantizer);
    for (const encoding of ['one_bit', 'one_and_half_bits'] as const) {
      const other = { ...quantizer, encoding, queryEncoding: 'default' as const };
      assert.deepEqual(
        decodeSegment(encodeSegment({ ...data, quantizer: other }), 'seg').quantizer,
        other,
      );
    }
    for (const bad of [
      { ...quantizer, thresholds: perDim(() => -1) },
      { ...quantizer, magnitudes: perDim(() => NaN) },
      { ...quantizer, offsets: new Float32Array(data.dimension + 1) },
    ]) {
      assert.throws(
        () => decodeSegment(encodeSegment({ ...data, quantizer: bad }), 'seg'),
        (e) => isQuiverError(e, 'CORRUPT') && /quantizer/.test(e.message),
        JSON.stringify(bad),
      );
    }
  });
  test('a table listing a section twice, or lacking a required one, is CORRUPT', () => {
    const data = fc.sample(dataArb, { numRuns: 1, seed: 9 })[0]!;
    const file = encodeSegment(data);
    assert.equal(decodeSegment(file, 'seg').ids.length, data.ids.length);
    const tableStart = SEGMENT_HEADER_SIZE + utf8Encode(data.collection).length;
    // Entry i's kind set to `kind`, the table's checksum made right again: only the
    // listing itself is wrong.
    const relisted = (i: number, kind: number): Uint8Array => {
      const out = file.slice();
      const view = new DataView(out.buffer);
      view.setUint32(tableStart + i * 24, kind, true);
      const tableEnd = tableStart + 3 * 24;
      view.setUint32(tableEnd, crc32c(out.subarray(SEGMENT_HEADER_SIZE, tableEnd)), true);
      return out;
    };
    // Entry 2 is VECTORS: listed as IDS again, then as an unknown kind.
    assert.throws(
      () => decodeSegment(relisted(2, SegmentSection.IDS), 'seg'),
      (e) => isQuiverError(e, 'CORRUPT') && /section 1 is listed twice/.test(e.message),
    );
    assert.throws(
      () => decodeSegment(relisted(2, 9), 'seg'),
      (e) => isQuiverError(e, 'CORRUPT') && /section 3 is missing/.test(e.message),
    );
  });
});
