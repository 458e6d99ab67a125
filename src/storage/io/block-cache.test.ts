/**
 * BlockCache: every read returns the file's bytes whatever the capacity, the interleaving
 * of files, resizes and forgets (property test over an in-memory file handle); it holds no
 * more than its capacity; hits, misses and evictions are counted; a read past the end of a
 * file throws naming it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isQuiverError } from '../../common/quiver-error.js';
import { BLOCK_BYTES, BlockCache } from './block-cache.js';
import type { FileHandle } from './file-system.js';

/** A read-only handle over bytes in memory, counting its reads. */
function memoryHandle(path: string, bytes: Uint8Array): FileHandle & { reads: number } {
  const handle = {
    path,
    reads: 0,
    readSync(position: number, target: Uint8Array): number {
      handle.reads++;
      const part = bytes.subarray(Math.min(position, bytes.length), position + target.length);
      target.set(part);
      return part.length;
    },
    read: () => Promise.reject(new Error('not used')),
    write: () => Promise.reject(new Error('read only')),
    sync: () => Promise.resolve(),
    truncate: () => Promise.reject(new Error('read only')),
    size: () => Promise.resolve(bytes.length),
    close: () => Promise.resolve(),
  };
  return handle;
}

function fileBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('read' as const),
    file: fc.nat(2),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    length: fc.integer({ min: 1, max: 3 * BLOCK_BYTES }),
  }),
  fc.record({ kind: fc.constant('resize' as const), blocks: fc.nat(6) }),
  fc.record({ kind: fc.constant('forget' as const), file: fc.nat(2) }),
);

test('reads return the file bytes under any capacity, resize and forget', () => {
  fc.assert(
    fc.property(fc.nat(6), fc.array(op, { maxLength: 60 }), (blocks, ops) => {
      const cache = new BlockCache(blocks * BLOCK_BYTES);
      const sizes = [BLOCK_BYTES * 5 + 123, BLOCK_BYTES, 7000];
      const datas = sizes.map((s, i) => fileBytes(s, i));
      const files = datas.map((d, i) => cache.register(memoryHandle(`f${i}`, d)));
      for (const o of ops) {
        if (o.kind === 'resize') cache.resize(o.blocks * BLOCK_BYTES);
        else if (o.kind === 'forget') cache.forget(files[o.file]!);
        else {
          const data = datas[o.file]!;
          const length = Math.min(o.length, data.length);
          const position = Math.floor(o.at * (data.length - length));
          const target = new Uint8Array(length);
          cache.read(files[o.file]!, position, target);
          assert.deepEqual(target, data.subarray(position, position + length));
        }
        const s = cache.stats();
        assert.ok(s.bytes <= s.capacityBytes, JSON.stringify(s));
      }
    }),
    { numRuns: 300 },
  );
});

test('hits are served from memory, the least used block goes first, bad reads name the file', () => {
  const data = fileBytes(BLOCK_BYTES * 4, 3);
  const handle = memoryHandle('seg-1.qseg', data);
  const cache = new BlockCache(2 * BLOCK_BYTES);
  const file = cache.register(handle);
  const at = (block: number): Uint8Array => {
    const out = new Uint8Array(8);
    cache.read(file, block * BLOCK_BYTES + 100, out);
    return out;
  };
  at(0);
  at(1);
  at(0);
  assert.equal(handle.reads, 2);
  assert.deepEqual(cache.stats(), {
    hits: 1,
    misses: 2,
    evictions: 0,
    entries: 2,
    bytes: 2 * BLOCK_BYTES,
    capacityBytes: 2 * BLOCK_BYTES,
  });
  at(2); // evicts block 1 (block 0 was used again since it was read)
  at(0);
  assert.equal(handle.reads, 3, 'block 0 stayed');
  at(1);
  assert.equal(handle.reads, 4, 'block 1 was evicted');
  assert.equal(cache.stats().evictions, 2);
  assert.throws(
    () => cache.read(file, data.length - 4, new Uint8Array(8)),
    (e) => isQuiverError(e, 'CORRUPT') && /seg-1\.qseg/.test(e.message),
  );
  const off = new BlockCache(0);
  const f2 = off.register(handle);
  const out = new Uint8Array(16);
  off.read(f2, 5, out);
  assert.deepEqual(out, data.subarray(5, 21));
  assert.equal(off.stats().bytes, 0);
});
