/**
 * The WAL record body codec (docs/FORMAT.md §2.3): every operation kind encodes to the
 * documented bytes and decodes back to an equal operation (golden bodies and a fast-check
 * round trip), large batches encode, and a body that does not parse — short, with trailing
 * bytes, an unknown type, mode or id tag, bad UTF-8 or JSON — is CORRUPT naming the file,
 * the offset and the cause.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter, OutOfBoundsError, utf8Encode } from '../../common/bytes.js';
import { isQuiverError, type QuiverError } from '../../common/quiver-error.js';
import type { JsonObject, PointId } from '../../common/types.js';
import { WalRecordType } from '../format.js';
import { propertyParams } from '../../../test/helpers/random.js';
import { decodeWalOp, encodeWalOp, type LoggedPoint, type WalOp } from './wal-body-codec.js';

const FILE = 'wal/00000000000000000001.log';
const OFFSET = 4242;
const DAMAGED =
  'The file is damaged: run "quiver verify" and restore from backup or "quiver repair".';

/** Builds a body by hand, the way FORMAT.md §2.3 lays it out. */
function bytes(build: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(16);
  build(w);
  return w.finish().slice();
}

function name(w: ByteWriter, s: string): void {
  const b = utf8Encode(s);
  w.u16(b.length).bytes(b);
}

function id(w: ByteWriter, v: PointId): void {
  if (typeof v === 'number') w.u8(0).u64(v);
  else name(w.u8(1), v);
}

function roundTrip(op: WalOp): WalOp {
  const { type, body } = encodeWalOp(op);
  return decodeWalOp(type, body, FILE, OFFSET);
}

/** Decodes a damaged body: it must fail with CORRUPT naming FILE and OFFSET. */
function corruptOf(type: number, body: Uint8Array): QuiverError {
  try {
    decodeWalOp(type, body, FILE, OFFSET);
  } catch (e) {
    assert.ok(isQuiverError(e, 'CORRUPT'), `expected CORRUPT, got ${String(e)}`);
    assert.equal(e.details.file, FILE);
    assert.equal(e.details.offset, OFFSET);
    assert.ok(e.message.endsWith(`in ${FILE} at offset ${OFFSET}. ${DAMAGED}`), e.message);
    return e;
  }
  assert.fail(`decoding type ${type} body ${Buffer.from(body).toString('hex')} did not fail`);
}

/** The CORRUPT message of a body whose cause says `cause`. */
function malformed(cause: string): string {
  return `malformed WAL record body (${cause}) in ${FILE} at offset ${OFFSET}. ${DAMAGED}`;
}

describe('WAL body codec: the FORMAT.md §2.3 layout', () => {
  const golden: { what: string; op: WalOp; type: number; body: Uint8Array }[] = [
    {
      what: 'CREATE_COLLECTION is the config as JSON text',
      op: { kind: 'create-collection', config: { name: 'docs', dimension: 3 } },
      type: 1,
      body: utf8Encode('{"name":"docs","dimension":3}'),
    },
    {
      what: 'UPDATE_COLLECTION is the new config as JSON text',
      op: { kind: 'update-collection', config: { name: 'docs', onDisk: true } },
      type: 7,
      body: utf8Encode('{"name":"docs","onDisk":true}'),
    },
    {
      what: 'DROP_COLLECTION is the bare UTF-8 name',
      op: { kind: 'drop-collection', name: 'dé' },
      type: 2,
      body: new Uint8Array([0x64, 0xc3, 0xa9]),
    },
    {
      what: 'SWAP_COLLECTION is two length-prefixed names, staging first',
      op: { kind: 'swap-collection', staging: '.staging-a-1', target: 'a' },
      type: 6,
      body: bytes((w) => {
        name(w, '.staging-a-1');
        name(w, 'a');
      }),
    },
    {
      what: 'UPSERT is name, dimension, count, then id, f32 vector, payload per point',
      op: {
        kind: 'upsert',
        collection: 'c',
        dimension: 2,
        points: [
          { id: 7, vector: new Float32Array([1.5, -2]), payloadJson: '{"a":1}' },
          { id: 'x', vector: new Float32Array([0, 0.25]), payloadJson: '' },
        ],
      },
      type: 3,
      body: bytes((w) => {
        name(w, 'c');
        w.u32(2).u32(2);
        id(w, 7);
        w.f32s(new Float32Array([1.5, -2]));
        w.u32(7).bytes(utf8Encode('{"a":1}')); // a payload length is a u32, a name's a u16
        id(w, 'x');
        w.f32s(new Float32Array([0, 0.25]));
        w.u32(0);
      }),
    },
    {
      what: 'DELETE is name, count, then the ids',
      op: { kind: 'delete', collection: 'c', ids: [1, 'two', 2 ** 53 - 1] },
      type: 4,
      body: bytes((w) => {
        name(w, 'c');
        w.u32(3);
        id(w, 1);
        id(w, 'two');
        id(w, 2 ** 53 - 1);
      }),
    },
    {
      what: 'REPLACE is an UPSERT body, then count and the ids deleted',
      op: {
        kind: 'replace',
        collection: 'c',
        dimension: 1,
        points: [{ id: 'n', vector: new Float32Array([0.5]), payloadJson: '' }],
        deletes: [3, 'o'],
      },
      type: 8,
      body: bytes((w) => {
        name(w, 'c');
        w.u32(1).u32(1);
        id(w, 'n');
        w.f32s(new Float32Array([0.5]));
        w.u32(0);
        w.u32(2);
        id(w, 3);
        id(w, 'o');
      }),
    },
  ];
  const modes = ['merge', 'overwrite', 'delete-keys', 'clear'] as const;
  modes.forEach((mode, code) => {
    const payloadJson = mode === 'merge' || mode === 'overwrite' ? '{"k":"v"}' : '';
    const keys = mode === 'delete-keys' ? ['k', 'ü'] : [];
    golden.push({
      what: `PAYLOAD with mode ${mode} writes mode byte ${code}`,
      op: { kind: 'payload', collection: 'c', ids: [5, 'p'], mode, payloadJson, keys },
      type: 5,
      body: bytes((w) => {
        name(w, 'c');
        w.u8(code).u32(2);
        id(w, 5);
        id(w, 'p');
        const p = utf8Encode(payloadJson);
        w.u32(p.length).bytes(p);
        w.u32(keys.length);
        for (const k of keys) {
          const b = utf8Encode(k);
          w.u32(b.length).bytes(b);
        }
      }),
    });
  });

  for (const g of golden) {
    test(`${g.what}: encodes to those bytes and decodes back`, () => {
      const { type, body } = encodeWalOp(g.op);
      assert.equal(type, g.type);
      assert.deepEqual(Buffer.from(body).toString('hex'), Buffer.from(g.body).toString('hex'));
      assert.deepEqual(decodeWalOp(g.type, g.body, FILE, OFFSET), g.op);
    });
  }

  test('record types are the FORMAT.md numbers', () => {
    assert.deepEqual(
      {
        create: encodeWalOp({ kind: 'create-collection', config: {} }).type,
        drop: encodeWalOp({ kind: 'drop-collection', name: 'a' }).type,
        upsert: encodeWalOp({ kind: 'upsert', collection: 'a', dimension: 1, points: [] }).type,
        delete: encodeWalOp({ kind: 'delete', collection: 'a', ids: [] }).type,
        payload: encodeWalOp({
          kind: 'payload',
          collection: 'a',
          ids: [],
          mode: 'clear',
          payloadJson: '',
          keys: [],
        }).type,
        swap: encodeWalOp({ kind: 'swap-collection', staging: 'b', target: 'a' }).type,
        update: encodeWalOp({ kind: 'update-collection', config: {} }).type,
        replace: encodeWalOp({
          kind: 'replace',
          collection: 'a',
          dimension: 1,
          points: [],
          deletes: [],
        }).type,
      },
      {
        create: WalRecordType.CREATE_COLLECTION,
        drop: WalRecordType.DROP_COLLECTION,
        upsert: WalRecordType.UPSERT,
        delete: WalRecordType.DELETE,
        payload: WalRecordType.PAYLOAD,
        swap: WalRecordType.SWAP_COLLECTION,
        update: WalRecordType.UPDATE_COLLECTION,
        replace: WalRecordType.REPLACE,
      },
    );
  });

  test('an unknown operation kind is refused, never encoded', () => {
    const bogus = { kind: 'truncate', collection: 'c' } as unknown as WalOp;
    assert.throws(() => encodeWalOp(bogus), /unknown op \{"kind":"truncate","collection":"c"\}/);
  });
});

// ---- arbitraries -------------------------------------------------------------------------

const textArb = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength });
const pointIdArb: fc.Arbitrary<PointId> = fc.oneof(
  fc.oneof(fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1), fc.maxSafeNat()),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
);
const idsArb = fc.array(pointIdArb, { maxLength: 12 });
const payloadJsonArb = fc.oneof(fc.constant(''), fc.json({ maxDepth: 2 }));
const configArb: fc.Arbitrary<JsonObject> = fc
  .dictionary(textArb(12), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 })
  // As the engine builds it: a plain object that survives JSON text unchanged.
  .map((o) => JSON.parse(JSON.stringify(o)) as JsonObject);

const upsertArb: fc.Arbitrary<WalOp> = fc
  .record({ collection: textArb(30), dimension: fc.integer({ min: 0, max: 9 }) })
  .chain(({ collection, dimension }) =>
    fc
      .array(
        fc.record({
          id: pointIdArb,
          vector: fc.float32Array({ minLength: dimension, maxLength: dimension, noNaN: true }),
          payloadJson: payloadJsonArb,
        }),
        { maxLength: 8 },
      )
      .map((points): WalOp => ({
        kind: 'upsert',
        collection,
        dimension,
        points: points.map((p): LoggedPoint => ({ ...p })),
      })),
  );

const opArb: fc.Arbitrary<WalOp> = fc.oneof(
  configArb.map((config): WalOp => ({ kind: 'create-collection', config })),
  configArb.map((config): WalOp => ({ kind: 'update-collection', config })),
  textArb(40).map((n): WalOp => ({ kind: 'drop-collection', name: n })),
  fc
    .record({ staging: textArb(40), target: textArb(40) })
    .map(({ staging, target }): WalOp => ({ kind: 'swap-collection', staging, target })),
  upsertArb,
  fc
    .tuple(upsertArb, idsArb)
    .map(([u, deletes]): WalOp => (u.kind === 'upsert' ? { ...u, kind: 'replace', deletes } : u)),
  fc
    .record({ collection: textArb(30), ids: idsArb })
    .map(({ collection, ids }): WalOp => ({ kind: 'delete', collection, ids })),
  fc
    .record({
      collection: textArb(30),
      ids: idsArb,
      mode: fc.constantFrom('merge', 'overwrite', 'delete-keys', 'clear'),
      payloadJson: payloadJsonArb,
      keys: fc.array(textArb(20), { maxLength: 6 }),
    })
    .map((p): WalOp => ({ kind: 'payload', ...p })),
);

/** Kinds whose body is a sequence of sized fields (every byte accounted for). */
const framedOpArb = opArb.filter((op) => op.kind !== 'drop-collection');

describe('WAL body codec: round trip', () => {
  test('every operation decodes to an equal operation, and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(opArb, (op) => {
        const { type, body } = encodeWalOp(op);
        const back = decodeWalOp(type, body, FILE, OFFSET);
        assert.deepEqual(back, op);
        assert.deepEqual(encodeWalOp(back), { type, body });
      }),
      propertyParams('wal body round-trip', 500),
    );
  });

  test('large batches encode past the writer’s initial size and decode back', () => {
    const long = 'n'.repeat(300);
    const manyIds = Array.from({ length: 200 }, (_, i): PointId => (i % 2 ? i : `id-${i}`));
    const ops: WalOp[] = [
      { kind: 'swap-collection', staging: long, target: '' },
      { kind: 'swap-collection', staging: '', target: long },
      { kind: 'swap-collection', staging: 'é'.repeat(500), target: '日'.repeat(500) },
      {
        kind: 'upsert',
        collection: long,
        dimension: 0,
        points: manyIds.map((i) => ({ id: i, vector: new Float32Array(0), payloadJson: '' })),
      },
      {
        kind: 'upsert',
        collection: 'c',
        dimension: 128,
        points: manyIds.slice(0, 20).map((i, k) => ({
          id: i,
          vector: new Float32Array(128).fill(k / 3),
          payloadJson: JSON.stringify({ k, text: 'x'.repeat(k * 50) }),
        })),
      },
      { kind: 'delete', collection: long, ids: manyIds },
      {
        kind: 'payload',
        collection: 'c',
        ids: manyIds,
        mode: 'overwrite',
        payloadJson: JSON.stringify({ text: 'y'.repeat(5000) }),
        keys: [],
      },
      {
        kind: 'payload',
        collection: 'c',
        ids: [1],
        mode: 'merge',
        payloadJson: JSON.stringify({ text: 'z'.repeat(5000) }),
        keys: [],
      },
      {
        kind: 'payload',
        collection: 'c',
        ids: [],
        mode: 'delete-keys',
        payloadJson: '',
        keys: Array.from({ length: 100 }, (_, i) => `key-${i}`),
      },
    ];
    for (const op of ops) assert.deepEqual(roundTrip(op), op);
  });
});

describe('WAL body codec: damaged bodies are CORRUPT with the file, offset and cause', () => {
  test('every strict prefix of a body fails: a short body never decodes', () => {
    fc.assert(
      fc.property(
        framedOpArb.chain((op) => {
          const enc = encodeWalOp(op);
          return fc.record({
            enc: fc.constant(enc),
            cut: fc.integer({ min: 0, max: Math.max(0, enc.body.length - 1) }),
          });
        }),
        ({ enc, cut }) => {
          fc.pre(enc.body.length > 0);
          const e = corruptOf(enc.type, enc.body.slice(0, cut));
          assert.ok(e.message.startsWith('malformed WAL record body ('), e.message);
        },
      ),
      propertyParams('wal body truncation', 300),
    );
  });

  test('a framed body with trailing bytes says how many', () => {
    fc.assert(
      fc.property(
        framedOpArb.filter(
          (op) => op.kind !== 'create-collection' && op.kind !== 'update-collection',
        ),
        fc.uint8Array({ minLength: 1, maxLength: 20 }),
        (op, extra) => {
          const { type, body } = encodeWalOp(op);
          const damaged = new Uint8Array(body.length + extra.length);
          damaged.set(body);
          damaged.set(extra, body.length);
          const e = corruptOf(type, damaged);
          assert.equal(e.message, malformed(`${extra.length} trailing bytes`));
          assert.ok(e.cause instanceof RangeError);
        },
      ),
      propertyParams('wal body trailing bytes', 300),
    );
  });

  test('a read past the end names the read, the position and the body length', () => {
    const body = bytes((w) => {
      name(w, 'c');
      w.u32(1); // one id announced, none present
    });
    const e = corruptOf(WalRecordType.DELETE, body);
    assert.equal(e.message, malformed('read of 1 bytes at 7 past end 7'));
    assert.ok(e.cause instanceof OutOfBoundsError);
  });

  test('an empty body of a framed type is CORRUPT, not an empty operation', () => {
    for (const type of [
      WalRecordType.SWAP_COLLECTION,
      WalRecordType.UPSERT,
      WalRecordType.DELETE,
      WalRecordType.PAYLOAD,
    ]) {
      assert.equal(
        corruptOf(type, new Uint8Array(0)).message,
        malformed('read of 2 bytes at 0 past end 0'),
      );
    }
  });

  test('an unknown record type is CORRUPT naming the type', () => {
    for (const type of [0, 9, 255]) {
      const e = corruptOf(type, utf8Encode('{}'));
      assert.equal(e.message, malformed(`unknown record type ${type}`));
      assert.ok(e.cause instanceof RangeError);
    }
  });

  test('an unknown payload mode is CORRUPT', () => {
    const body = bytes((w) => {
      name(w, 'c');
      w.u8(4).u32(0).u32(0).u32(0);
    });
    assert.equal(corruptOf(WalRecordType.PAYLOAD, body).message, malformed('unknown payload mode'));
  });

  test('an empty-slot id (tag 255) in a record is CORRUPT', () => {
    for (const type of [WalRecordType.DELETE, WalRecordType.UPSERT]) {
      const body = bytes((w) => {
        name(w, 'c');
        if (type === WalRecordType.UPSERT) w.u32(0);
        w.u32(1).u8(255);
        if (type === WalRecordType.UPSERT) w.u32(0);
      });
      assert.equal(corruptOf(type, body).message, malformed('an empty id in a WAL record'));
    }
    const payload = bytes((w) => {
      name(w, 'c');
      w.u8(3).u32(1).u8(255).u32(0).u32(0);
    });
    assert.equal(
      corruptOf(WalRecordType.PAYLOAD, payload).message,
      malformed('an empty id in a WAL record'),
    );
  });

  test('an unknown id tag is CORRUPT naming the tag', () => {
    const body = bytes((w) => {
      name(w, 'c');
      w.u32(1).u8(2);
    });
    assert.equal(corruptOf(WalRecordType.DELETE, body).message, malformed('unknown id tag 2'));
  });

  test('a collection config that is JSON but not an object is CORRUPT', () => {
    for (const text of ['null', '[]', '[{"name":"c"}]', '3', '"c"', 'true']) {
      const e = corruptOf(WalRecordType.CREATE_COLLECTION, utf8Encode(text));
      assert.equal(e.message, malformed('collection config is not an object'), text);
      assert.ok(e.cause instanceof RangeError);
    }
  });

  test('a collection config that is not JSON is CORRUPT carrying the parse error', () => {
    for (const text of ['', '{', '{"name":"c"} x', 'nope']) {
      const e = corruptOf(WalRecordType.CREATE_COLLECTION, utf8Encode(text));
      assert.ok(e.cause instanceof SyntaxError, text);
      assert.equal(e.message, malformed(e.cause.message));
    }
  });

  test('invalid UTF-8 in a name is CORRUPT carrying the decoder error', () => {
    const bad = new Uint8Array([0xc3, 0x28]);
    const swap = bytes((w) => {
      w.u16(2).bytes(bad);
      name(w, 't');
    });
    const cases: [number, Uint8Array][] = [
      [WalRecordType.DROP_COLLECTION, bad],
      [WalRecordType.SWAP_COLLECTION, swap],
      [WalRecordType.CREATE_COLLECTION, new Uint8Array([0x7b, 0xff, 0x7d])],
    ];
    for (const [type, body] of cases) {
      const e = corruptOf(type, body);
      assert.ok(e.cause instanceof TypeError, `type ${type}`);
      assert.equal(e.message, malformed(e.cause.message));
    }
  });

  test('the point count bounds the points read: a larger count runs out, a smaller leaves bytes', () => {
    const op: WalOp = {
      kind: 'upsert',
      collection: 'c',
      dimension: 1,
      points: [
        { id: 1, vector: new Float32Array([1]), payloadJson: '' },
        { id: 2, vector: new Float32Array([2]), payloadJson: '' },
      ],
    };
    const { body } = encodeWalOp(op);
    const countAt = 2 + 1 + 4; // name, dimension
    const withCount = (n: number): Uint8Array => {
      const b = body.slice();
      new DataView(b.buffer).setUint32(countAt, n, true);
      return b;
    };
    const pointBytes = 1 + 8 + 4 + 4;
    assert.equal(
      corruptOf(WalRecordType.UPSERT, withCount(1)).message,
      malformed(`${pointBytes} trailing bytes`),
    );
    assert.match(
      corruptOf(WalRecordType.UPSERT, withCount(3)).message,
      /^malformed WAL record body \(read of 1 bytes at \d+ past end \d+\)/,
    );
  });
});

describe('WAL body codec: upserts are written in place, byte for byte the §2.3 layout', () => {
  /** The upsert body as FORMAT.md §2.3 lays it out, written value by value. */
  function layout(op: Extract<WalOp, { kind: 'upsert' }>): Uint8Array {
    return bytes((w) => {
      name(w, op.collection);
      w.u32(op.dimension).u32(op.points.length);
      for (const p of op.points) {
        id(w, p.id);
        w.f32s(p.vector);
        const payload = utf8Encode(p.payloadJson);
        w.u32(payload.length).bytes(payload);
      }
    });
  }

  test('any upsert — string ids, multi-byte names and payloads, views of a shared buffer', () => {
    const multiByte = fc.string({ unit: 'binary', maxLength: 30 });
    const arb = fc
      .record({
        collection: multiByte,
        dimension: fc.integer({ min: 0, max: 9 }),
        points: fc.array(
          fc.record({ id: pointIdArb, payloadJson: fc.oneof(payloadJsonArb, multiByte) }),
          { maxLength: 8 },
        ),
      })
      .chain(({ collection, dimension, points }) =>
        fc
          .float32Array({
            minLength: dimension * points.length,
            maxLength: dimension * points.length,
            noNaN: true,
          })
          .map((all): Extract<WalOp, { kind: 'upsert' }> => ({
            kind: 'upsert',
            collection,
            dimension,
            points: points.map((p, i) => ({
              ...p,
              vector: all.subarray(i * dimension, (i + 1) * dimension),
            })),
          })),
      );
    fc.assert(
      fc.property(arb, (op) => {
        assert.deepEqual(encodeWalOp(op).body, layout(op));
      }),
      propertyParams('wal upsert body layout', 300),
    );
  });
});
