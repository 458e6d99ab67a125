/**
 * The HNSW byte format: a round trip answers identically (tombstones included), and a
 * damaged blob (flipped byte, truncation, bad magic or version) is QuiverError CORRUPT.
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
    HnswIndex.deserialize(bytes, 'seg-1.hnsw');
    return false;
  } catch (e) {
    return (
      isQuiverError(e, 'CORRUPT') && e.details.file === 'seg-1.hnsw' && e.details.offset === at
    );
  }
}

describe('HNSW serialize / deserialize', () => {
  const index = built();
  const bytes = index.serialize();

  it('gives identical search results and state', () => {
    const copy = HnswIndex.deserialize(bytes);
    assert.equal(copy.liveCount, index.liveCount);
    assert.equal(copy.efSearch, 40);
    assert.deepEqual(copy.stats().entry, index.stats().entry);
    for (const q of queries) {
      assert.deepEqual(copy.search(q, { k: 10 }), index.search(q, { k: 10 }));
    }
    assert.deepEqual(copy.serialize(), bytes);
  });

  it('keeps working after load: adds, removes, repair', () => {
    const copy = HnswIndex.deserialize(bytes);
    copy.add(5000, vectors[1]!);
    copy.remove(1);
    copy.repair();
    assert.ok(copy.search(vectors[1]!, { k: 1 }).ids[0] === 5000);
  });

  it('starts with a magic and a version, little-endian', () => {
    assert.deepEqual([...bytes.subarray(0, 4)], [0x51, 0x48, 0x4e, 0x57]);
    assert.equal(new DataView(bytes.buffer).getUint16(4, true), 1);
  });

  it('reports a flipped byte anywhere as CORRUPT', () => {
    for (const at of [0, 5, 9, 30, 100, bytes.length >> 1, bytes.length - 5, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] = bad[at]! ^ 0x10;
      assert.throws(
        () => HnswIndex.deserialize(bad, 'seg-1.hnsw'),
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
    // First level-0 list: flags, levels, pad, upper offsets, then lists.
    const links0 = ((56 + 2 * slots + 3) & ~3) + 4 * slots;
    view.setInt32(links0 + 4, slots + 5, true);
    view.setUint32(bad.length - 4, crc32c(bad.subarray(0, bad.length - 4)), true);
    assert.ok(view.getInt32(links0, true) > 0);
    assert.ok(corruptAt(bad, links0 + 4));
  });
});
