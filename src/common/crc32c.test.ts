/**
 * CRC-32C: the known answer of FORMAT.md §1, and the sliced form equal to the bytewise
 * reference for any bytes, any length (tails of 0..7), any offset into a buffer, and when
 * continued from a previous crc (fast-check).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { crc32c, crc32cBytewise } from './crc32c.js';

describe('crc32c', () => {
  it('gives the known answer', () => {
    const bytes = new TextEncoder().encode('123456789');
    assert.equal(crc32c(bytes), 0xe3069283);
    assert.equal(crc32cBytewise(bytes), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  it('equals the bytewise reference, at any offset and continued', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat({ max: 7 }),
        fc.nat(),
        (raw, skip, previous) => {
          const bytes = raw.subarray(Math.min(skip, raw.length));
          assert.equal(crc32c(bytes), crc32cBytewise(bytes));
          assert.equal(crc32c(bytes, previous >>> 0), crc32cBytewise(bytes, previous >>> 0));
          const cut = bytes.length >> 1;
          assert.equal(crc32c(bytes.subarray(cut), crc32c(bytes.subarray(0, cut))), crc32c(bytes));
        },
      ),
      { numRuns: 500 },
    );
  });
});
