/**
 * The HNSW byte format: a round trip (graph bytes plus the vectors a segment keeps beside
 * them) answers identically, tombstones repaired away first; a damaged blob (flipped byte,
 * truncation, bad magic or version) or missing vectors is QuiverError CORRUPT.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c } from '../../common/crc32c.js';
import { isQuiverError } from '../../common/quiver-error.js';
import { HnswIndex, createHnswIndex } from './hnsw-index.js';
import { clusteredVectors } from './hnsw.fixtures.js';

const DIM = 24;
const vectors = clusteredVectors(3000, DIM, 'cosine', 31);
const queries = clusteredVectors(100, DIM, 'cosine', 32);

function built(): HnswIndex {
  const index = createHnswIndex({
    dimension: DIM,
    metric: 'cosine',
    efSearch: 40,
    repairThreshold: 0.5,
  });
  vectors.forEach((v, i) => index.add(i, v));
  for (let i = 0; i < 3000; i += 7) index.remove(i);
  return index;
}

function corruptAt(bytes: Uint8Array, at: number): boolean {
  try {
    HnswIndex.deserialize(bytes, 'seg-1.hnsw', { vectors: stored });
    return false;
  } catch (e) {
    return (
      isQuiverError(e, 'CORRUPT') && e.details.file === 'seg-1.hnsw' && e.details.offset === at
    );
  }
}

const index = built();
const tombstones = index.stats().tombstones;
const bytes = index.serialize();
const stored = index.vectorsCopy();

describe('HNSW serialize / deserialize', () => {
  it('repairs tombstones away before writing, and carries no vectors', () => {
    assert.ok(tombstones > 0);
    assert.equal(index.stats().tombstones, 0);
    assert.equal(index.liveCount, 3000 - Math.ceil(3000 / 7));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const upperBytes = view.getUint32(44, true);
    const lists = ((56 + 2 * 3000 + 3) & ~3) + 4 * 3000 + (1 + 32) * 4 * 3000;
    assert.equal(bytes.length, lists + upperBytes + 4, 'no vector section between the lists');
  });

  it('gives identical search results and state', () => {
    const copy = HnswIndex.deserialize(bytes, 'blob', { vectors: stored });
    assert.equal(copy.liveCount, index.liveCount);
    assert.equal(copy.efSearch, 40);
    assert.deepEqual(copy.stats().entry, index.stats().entry);
    for (const q of queries) {
      assert.deepEqual(copy.search(q, { k: 10 }), index.search(q, { k: 10 }));
    }
    assert.deepEqual(copy.serialize(), bytes);
  });

  it('keeps working after load: adds, removes, repair', () => {
    const copy = HnswIndex.deserialize(bytes, 'blob', { vectors: stored });
    copy.add(5000, vectors[1]!);
    copy.remove(1);
    copy.repair();
    assert.ok(copy.search(vectors[1]!, { k: 1 }).ids[0] === 5000);
  });

  it('starts with a magic and a version, little-endian', () => {
    assert.deepEqual([...bytes.subarray(0, 4)], [0x51, 0x48, 0x4e, 0x57]);
    assert.equal(new DataView(bytes.buffer).getUint16(4, true), 2);
  });

  it('is CORRUPT without the vectors, or with too few', () => {
    assert.throws(
      () => HnswIndex.deserialize(bytes, 'seg-1.hnsw'),
      (e) => isQuiverError(e, 'CORRUPT') && /vectors are missing/.test(e.message),
    );
    assert.throws(
      () => HnswIndex.deserialize(bytes, 'seg-1.hnsw', { vectors: stored.subarray(DIM) }),
      (e) => isQuiverError(e, 'CORRUPT') && e.details.file === 'seg-1.hnsw',
    );
  });

  it('takes streamed rows in slot order, the same index; rows of another size are CORRUPT', () => {
    // Rows handed over as a segment file's stream would: in order, one run at a time.
    const rowsOf = (dimension: number, slots: number, from = stored) => {
      let next = 0;
      return {
        dimension,
        slots,
        rows(a: number, b: number): Float32Array {
          assert.equal(a, next, 'rows asked for in order');
          next = b;
          return from.subarray(a * dimension, b * dimension);
        },
      };
    };
    const copy = HnswIndex.deserialize(bytes, 'blob', { vectors: rowsOf(DIM, 3000) });
    for (const q of queries.slice(0, 20)) {
      assert.deepEqual(copy.search(q, { k: 10 }), index.search(q, { k: 10 }));
    }
    for (const [dimension, slots] of [
      [DIM / 2, 6000],
      [DIM, 2999],
    ] as const) {
      assert.throws(
        () => HnswIndex.deserialize(bytes, 'seg-1.hnsw', { vectors: rowsOf(dimension, slots) }),
        (e) => isQuiverError(e, 'CORRUPT') && /vectors are \d+ of \d+/.test(e.message),
        `${slots} rows of ${dimension}`,
      );
    }
  });

  it('reports a flipped byte anywhere as CORRUPT', () => {
    for (const at of [0, 5, 9, 30, 100, bytes.length >> 1, bytes.length - 5, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] = bad[at]! ^ 0x10;
      assert.throws(
        () => HnswIndex.deserialize(bad, 'seg-1.hnsw', { vectors: stored }),
        (e) => isQuiverError(e, 'CORRUPT') && e.details.file === 'seg-1.hnsw',
        `flip at ${at}`,
      );
    }
  });

  it('names the offset: magic, version, checksum, truncation', () => {
    const magic = bytes.slice();
    magic[0] = 0;
    assert.ok(corruptAt(magic, 0));
    const version = bytes.slice();
    version[4] = 9;
    assert.ok(corruptAt(version, 4));
    const flipped = bytes.slice();
    flipped[200] = flipped[200]! ^ 1;
    assert.ok(corruptAt(flipped, bytes.length - 4));
    assert.ok(corruptAt(bytes.subarray(0, 20), 20));
  });

  it('validates links even under a matching checksum', () => {
    const bad = bytes.slice();
    const view = new DataView(bad.buffer);
    const slots = view.getUint32(24, true);
    // Slot 1's level-0 list (slot 0 was removed, so repaired empty): flags, levels, pad,
    // upper offsets, then lists of (1 + 2m) i32 each.
    const links0 = ((56 + 2 * slots + 3) & ~3) + 4 * slots + (1 + 32) * 4;
    view.setInt32(links0 + 4, slots + 5, true);
    view.setUint32(bad.length - 4, crc32c(bad.subarray(0, bad.length - 4)), true);
    assert.ok(view.getInt32(links0, true) > 0);
    assert.ok(corruptAt(bad, links0 + 4));
  });

  it('names the same offsets when the blob is not on a 4-byte boundary, checksummed or not', () => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const slots = view.getUint32(24, true);
    const upperOffAt = (56 + 2 * slots + 3) & ~3;
    const links0 = upperOffAt + 4 * slots;
    const upper = links0 + (1 + 32) * 4 * slots;
    // The first node with an upper level: its level-1 list's second target goes out of range.
    let node = 0;
    while (bytes[56 + slots + node] === 0) node++;
    const list1 = upper + view.getUint32(upperOffAt + node * 4, true);
    assert.ok(view.getInt32(list1, true) >= 2, 'the level-1 list has two links');
    const cases: [string, (v: DataView) => void, number][] = [
      ['level-0 count', (v) => v.setInt32(links0 + 33 * 4, 65, true), links0 + 33 * 4],
      ['level-1 target', (v) => v.setInt32(list1 + 8, -1, true), list1 + 8],
    ];
    for (const [what, damage, at] of cases) {
      const shifted = new Uint8Array(bytes.length + 1).subarray(1);
      shifted.set(bytes);
      const v = new DataView(shifted.buffer, shifted.byteOffset, shifted.byteLength);
      damage(v);
      v.setUint32(shifted.length - 4, crc32c(shifted.subarray(0, shifted.length - 4)), true);
      for (const checksummed of [false, true]) {
        assert.throws(
          () => HnswIndex.deserialize(shifted, 'seg-2.hnsw', { vectors: stored, checksummed }),
          (e) => isQuiverError(e, 'CORRUPT') && e.details.offset === at,
          `${what}, checksummed ${checksummed}`,
        );
      }
    }
    const sound = new Uint8Array(bytes.length + 1).subarray(1);
    sound.set(bytes);
    const copy = HnswIndex.deserialize(sound, 'blob', { vectors: stored, checksummed: true });
    assert.deepEqual(copy.search(queries[0]!, { k: 10 }), index.search(queries[0]!, { k: 10 }));
  });

  it('skips only the checksum when told the bytes were checksummed', () => {
    const flipped = bytes.slice();
    flipped[bytes.length - 1] = flipped[bytes.length - 1]! ^ 1;
    assert.ok(corruptAt(flipped, bytes.length - 4));
    const copy = HnswIndex.deserialize(flipped, 'blob', { vectors: stored, checksummed: true });
    assert.equal(copy.liveCount, index.liveCount);
  });
});
