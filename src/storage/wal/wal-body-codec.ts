/**
 * Codec of WAL record bodies (docs/FORMAT.md §2.3): the engine's operations as immutable
 * tagged values and their little-endian encoding. Payloads travel as JSON text.
 */
import {
  ByteReader,
  ByteWriter,
  OutOfBoundsError,
  utf8Decode,
  utf8Encode,
} from '../../common/bytes.js';
import { corrupt } from '../../common/quiver-error.js';
import type { JsonObject, PointId } from '../../common/types.js';
import { WalRecordType } from '../format.js';
import { readPointId, writePointId } from '../id-codec.js';
import { WalBodyWriter } from './wal-body-writer.js';

/** One point as logged: payload is JSON text ('' when the point has no payload). */
export interface LoggedPoint {
  readonly id: PointId;
  readonly vector: Float32Array;
  readonly payloadJson: string;
}

export type WalOp =
  | { readonly kind: 'create-collection'; readonly config: JsonObject }
  | { readonly kind: 'drop-collection'; readonly name: string }
  /** The whole new config of an existing collection (its name, dimension and metric kept). */
  | { readonly kind: 'update-collection'; readonly config: JsonObject }
  /** `staging` takes `target`'s name; `target`, if it exists, is dropped (one step). */
  | { readonly kind: 'swap-collection'; readonly staging: string; readonly target: string }
  | {
      readonly kind: 'upsert';
      readonly collection: string;
      readonly dimension: number;
      readonly points: readonly LoggedPoint[];
    }
  | { readonly kind: 'delete'; readonly collection: string; readonly ids: readonly PointId[] }
  /**
   * `deletes` are deleted, then `points` upserted, as one write: a crash keeps both or
   * neither (a document's chunks replaced at once). An id in both ends up upserted.
   */
  | {
      readonly kind: 'replace';
      readonly collection: string;
      readonly dimension: number;
      readonly points: readonly LoggedPoint[];
      readonly deletes: readonly PointId[];
    }
  | {
      readonly kind: 'payload';
      readonly collection: string;
      readonly ids: readonly PointId[];
      /** merge: set keys; overwrite: replace; delete-keys: remove `keys`; clear: empty. */
      readonly mode: PayloadMode;
      /** JSON object text for merge and overwrite, '' otherwise. */
      readonly payloadJson: string;
      readonly keys: readonly string[];
    };

export type PayloadMode = 'merge' | 'overwrite' | 'delete-keys' | 'clear';
const PAYLOAD_MODES: readonly PayloadMode[] = ['merge', 'overwrite', 'delete-keys', 'clear'];

function writeId(w: ByteWriter, id: PointId): void {
  writePointId(w, id);
}

function readId(r: ByteReader): PointId {
  const id = readPointId(r);
  if (id === undefined) throw new RangeError('an empty id in a WAL record');
  return id;
}

function writeName(w: ByteWriter, name: string): void {
  const b = utf8Encode(name);
  w.u16(b.length).bytes(b);
}

/** Encodes an operation; returns its record type and body. */
export function encodeWalOp(op: WalOp): { type: number; body: Uint8Array } {
  switch (op.kind) {
    case 'create-collection':
      return {
        type: WalRecordType.CREATE_COLLECTION,
        body: utf8Encode(JSON.stringify(op.config)),
      };
    case 'drop-collection':
      return { type: WalRecordType.DROP_COLLECTION, body: utf8Encode(op.name) };
    case 'update-collection':
      return {
        type: WalRecordType.UPDATE_COLLECTION,
        body: utf8Encode(JSON.stringify(op.config)),
      };
    case 'swap-collection': {
      const w = new ByteWriter(8 + op.staging.length * 3 + op.target.length * 3);
      writeName(w, op.staging);
      writeName(w, op.target);
      return { type: WalRecordType.SWAP_COLLECTION, body: w.finish() };
    }
    case 'upsert':
      return { type: WalRecordType.UPSERT, body: encodeUpsert(op, undefined) };
    case 'replace':
      return { type: WalRecordType.REPLACE, body: encodeUpsert(op, op.deletes) };
    case 'delete': {
      const w = new ByteWriter(32 + op.ids.length * 9);
      writeName(w, op.collection);
      w.u32(op.ids.length);
      for (const id of op.ids) writeId(w, id);
      return { type: WalRecordType.DELETE, body: w.finish() };
    }
    case 'payload': {
      const w = new ByteWriter(64 + op.ids.length * 9 + op.payloadJson.length);
      writeName(w, op.collection);
      w.u8(PAYLOAD_MODES.indexOf(op.mode));
      w.u32(op.ids.length);
      for (const id of op.ids) writeId(w, id);
      const payload = utf8Encode(op.payloadJson);
      w.u32(payload.length).bytes(payload);
      w.u32(op.keys.length);
      for (const k of op.keys) {
        const b = utf8Encode(k);
        w.u32(b.length).bytes(b);
      }
      return { type: WalRecordType.PAYLOAD, body: w.finish() };
    }
    default: {
      const never: never = op;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The body of an upsert, written where its frame will be (wal-body-writer.ts): this is the
 * bulk of the WAL's bytes, so vectors and payload text are copied once each. A replace is
 * an upsert's body followed by the ids it deletes.
 */
function encodeUpsert(
  op: Extract<WalOp, { kind: 'upsert' | 'replace' }>,
  deletes: readonly PointId[] | undefined,
): Uint8Array {
  let payloadChars = 0;
  for (const p of op.points) payloadChars += p.payloadJson.length;
  // Exact for integer ids and ASCII payloads, the common case; the writer grows otherwise.
  const perPoint = 9 + op.dimension * 4 + 4;
  const w = new WalBodyWriter(
    10 + op.collection.length + op.points.length * perPoint + payloadChars,
  );
  w.utf8(op.collection, 2);
  w.u32(op.dimension).u32(op.points.length);
  for (const p of op.points) w.id(p.id).f32s(p.vector).utf8(p.payloadJson, 4);
  if (deletes !== undefined) {
    w.u32(deletes.length);
    for (const id of deletes) w.id(id);
  }
  return w.finish();
}

/**
 * Decodes a record body. `file` and `offset` locate the record for the CORRUPT error a
 * malformed body raises (its checksum matched, so this means a format mismatch).
 */
export function decodeWalOp(type: number, body: Uint8Array, file: string, offset: number): WalOp {
  try {
    return decodeBody(type, body);
  } catch (e) {
    const what =
      e instanceof OutOfBoundsError ||
      e instanceof RangeError ||
      e instanceof SyntaxError ||
      e instanceof TypeError
        ? `malformed WAL record body (${e.message})`
        : 'malformed WAL record body';
    throw corrupt(file, offset, what, e);
  }
}

/** The operation of one record body; throws RangeError (or a parse error) when malformed. */
function decodeBody(type: number, body: Uint8Array): WalOp {
  switch (type) {
    case WalRecordType.CREATE_COLLECTION:
    case WalRecordType.UPDATE_COLLECTION: {
      const config: unknown = JSON.parse(utf8Decode(body));
      if (typeof config !== 'object' || config === null || Array.isArray(config)) {
        throw new RangeError('collection config is not an object');
      }
      const kind =
        type === WalRecordType.CREATE_COLLECTION ? 'create-collection' : 'update-collection';
      return { kind, config: config as JsonObject };
    }
    case WalRecordType.DROP_COLLECTION:
      return { kind: 'drop-collection', name: utf8Decode(body) };
    case WalRecordType.SWAP_COLLECTION: {
      const r = new ByteReader(body);
      const staging = utf8Decode(r.bytesView(r.u16()));
      const target = utf8Decode(r.bytesView(r.u16()));
      expectEnd(r);
      return { kind: 'swap-collection', staging, target };
    }
    case WalRecordType.UPSERT:
    case WalRecordType.REPLACE:
      return decodeUpsert(new ByteReader(body), type === WalRecordType.REPLACE);
    case WalRecordType.DELETE: {
      const r = new ByteReader(body);
      const collection = utf8Decode(r.bytesView(r.u16()));
      const ids = readIds(r, r.u32());
      expectEnd(r);
      return { kind: 'delete', collection, ids };
    }
    case WalRecordType.PAYLOAD:
      return decodePayload(new ByteReader(body));
    default:
      throw new RangeError(`unknown record type ${type}`);
  }
}

function decodeUpsert(r: ByteReader, replace: boolean): WalOp {
  const collection = utf8Decode(r.bytesView(r.u16()));
  const dimension = r.u32();
  const count = r.u32();
  const points: LoggedPoint[] = [];
  for (let i = 0; i < count; i++) {
    const id = readId(r);
    const vector = r.f32s(dimension);
    const payloadJson = utf8Decode(r.bytesView(r.u32()));
    points.push({ id, vector, payloadJson });
  }
  if (!replace) {
    expectEnd(r);
    return { kind: 'upsert', collection, dimension, points };
  }
  const deletes = readIds(r, r.u32());
  expectEnd(r);
  return { kind: 'replace', collection, dimension, points, deletes };
}

function decodePayload(r: ByteReader): WalOp {
  const collection = utf8Decode(r.bytesView(r.u16()));
  const mode = PAYLOAD_MODES[r.u8()];
  if (mode === undefined) throw new RangeError('unknown payload mode');
  const ids = readIds(r, r.u32());
  const payloadJson = utf8Decode(r.bytesView(r.u32()));
  const keyCount = r.u32();
  const keys: string[] = [];
  for (let i = 0; i < keyCount; i++) keys.push(utf8Decode(r.bytesView(r.u32())));
  expectEnd(r);
  return { kind: 'payload', collection, ids, mode, payloadJson, keys };
}

function readIds(r: ByteReader, count: number): PointId[] {
  const ids: PointId[] = [];
  for (let i = 0; i < count; i++) ids.push(readId(r));
  return ids;
}

/** A body must end with its last field: trailing bytes mean a format mismatch. */
function expectEnd(r: ByteReader): void {
  if (r.remaining !== 0) throw new RangeError(`${r.remaining} trailing bytes`);
}
