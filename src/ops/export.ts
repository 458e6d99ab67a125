/**
 * export: streams one collection's points as JSON Lines (`{"id":…,"vector":[…],"payload":{…}}`
 * per line) from a pinned snapshot, without the writer's lock. Memory stays bounded by one
 * segment plus the unsealed WAL tail, whatever the collection's size: the tail is replayed
 * into a small overlay first, then sealed segments are streamed one at a time, skipping
 * the points the overlay replaces. Vectors are as stored (unit length for cosine).
 */
import { QuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import { applyPayloadUpdate } from '../engine/payload-update.js';
import { SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import { decodeSegment } from '../storage/segment/segment-file.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import type { PayloadMode, WalOp } from '../storage/wal/wal-body-codec.js';
import type { ManifestCollection } from '../storage/manifest/manifest.js';
import { stagingTarget } from '../engine/staging-name.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import type { TextSink } from './line-io.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';
import type { PinnedSnapshot } from './snapshot.js';
import { pinSnapshot } from './snapshot.js';
import { jsonString } from './ops-files.js';

/** One exported point. */
export interface ExportedPoint {
  readonly id: PointId;
  readonly vector: readonly number[];
  readonly payload: Payload;
}

export interface ExportReport {
  readonly collection: string;
  readonly points: number;
  readonly lsn: number;
  readonly duration_seconds: number;
}

interface PayloadPatch {
  readonly mode: PayloadMode;
  readonly payloadJson: string;
  readonly keys: readonly string[];
}

type OverlayEntry =
  | { readonly kind: 'point'; readonly vector: Float32Array; payload: Payload }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'patch'; readonly patches: PayloadPatch[] };

const key = (id: PointId): string => (typeof id === 'number' ? `n${id}` : `s${id}`);

/** What the export knows of one collection while it reads the WAL. */
interface Tracked {
  exists: boolean;
  useSegments: boolean;
  readonly listed: ManifestCollection | undefined;
  readonly sealedThrough: number;
  readonly createdLsn: number;
  overlay: Map<string, OverlayEntry>;
  readonly order: PointId[];
  readonly ordered: Set<string>;
}

function newTracked(listed: ManifestCollection | undefined): Tracked {
  return {
    exists: listed !== undefined,
    useSegments: listed !== undefined,
    listed,
    sealedThrough: listed?.sealedThroughLsn ?? 0,
    createdLsn: listed?.createdLsn ?? 0,
    overlay: new Map(),
    order: [],
    ordered: new Set(),
  };
}

/** Applies one logged operation of the tracked collection to what the export knows. */
function applyToTracked(
  t: Tracked,
  op: Exclude<WalOp, { kind: 'swap-collection' } | { kind: 'update-collection' }>,
  lsn: number,
): void {
  if (op.kind === 'create-collection') {
    if (lsn <= t.createdLsn) return;
    t.exists = true;
    t.useSegments = false;
    t.overlay = new Map();
    t.order.length = 0;
    t.ordered.clear();
    return;
  }
  if (op.kind === 'drop-collection') {
    if (lsn <= t.createdLsn) return;
    t.exists = false;
    t.useSegments = false;
    t.overlay = new Map();
    return;
  }
  if (t.useSegments && lsn <= t.sealedThrough) return;
  const overlay = t.overlay;
  if (op.kind === 'replace') {
    for (const id of op.deletes) overlay.set(key(id), { kind: 'deleted' });
  }
  if (op.kind === 'upsert' || op.kind === 'replace') {
    for (const p of op.points) {
      if (!t.ordered.has(key(p.id))) {
        t.ordered.add(key(p.id));
        t.order.push(p.id);
      }
      overlay.set(key(p.id), {
        kind: 'point',
        vector: p.vector,
        payload: p.payloadJson === '' ? {} : (JSON.parse(p.payloadJson) as Payload),
      });
    }
  } else if (op.kind === 'delete') {
    for (const id of op.ids) overlay.set(key(id), { kind: 'deleted' });
  } else {
    const patch = { mode: op.mode, payloadJson: op.payloadJson, keys: op.keys };
    for (const id of op.ids) {
      const e = overlay.get(key(id));
      if (e === undefined) overlay.set(key(id), { kind: 'patch', patches: [patch] });
      else if (e.kind === 'patch') e.patches.push(patch);
      else if (e.kind === 'point') {
        e.payload = applyPayloadUpdate(e.payload, patch.mode, patch.payloadJson, patch.keys);
      }
    }
  }
}

/**
 * Yields every live point of `collection` in a pinned snapshot. Throws
 * COLLECTION_NOT_FOUND when it does not exist at the snapshot's LSN.
 */
export async function* snapshotPoints(
  fs: FileSystem,
  snap: PinnedSnapshot,
  collection: string,
  progress: ProgressFn = NO_PROGRESS,
): AsyncGenerator<ExportedPoint> {
  const { exists, useSegments, listed, overlay, order } = await replayWalTail(fs, snap, collection);
  if (!exists) {
    throw new QuiverError(
      'COLLECTION_NOT_FOUND',
      `Collection "${collection}" does not exist in ${snap.source} (at LSN ${snap.lsn}).`,
      { collection },
    );
  }
  // The slot loops stay here rather than in nested generators: each level of yield* is
  // paid again for every point exported.
  let done = 0;
  if (useSegments && listed !== undefined) {
    const total = listed.segments.reduce((n, s) => n + s.points, 0) + order.length;
    for (const s of listed.segments) {
      const { data, deleted } = await readSegment(fs, snap, s);
      const dim = data.dimension;
      for (let slot = 0; slot < data.ids.length; slot++) {
        const id = data.ids[slot];
        if (id === undefined || deleted.has(slot)) continue;
        const e = overlay.get(key(id));
        if (e !== undefined && e.kind !== 'patch') continue;
        yield {
          id,
          vector: Array.from(data.vectors.subarray(slot * dim, (slot + 1) * dim)),
          payload: patched(data.payloads[slot]!, e),
        };
        if (++done % 4096 === 0) progress({ phase: 'export', done, total, unit: 'points' });
      }
    }
  }
  for (const id of order) {
    const e = overlay.get(key(id));
    if (e?.kind !== 'point') continue;
    overlay.delete(key(id)); // an id upserted twice is listed once
    yield { id, vector: Array.from(e.vector), payload: e.payload };
    done++;
  }
}

/**
 * The collection, and the staging collections that may replace it at a swap (a snapshot
 * restore), each read from its manifest entry plus the WAL after it; returns what is
 * known of the collection at the snapshot's LSN.
 */
async function replayWalTail(
  fs: FileSystem,
  snap: PinnedSnapshot,
  collection: string,
): Promise<Tracked> {
  const tracked = new Map<string, Tracked>();
  const track = (name: string): Tracked | undefined => {
    if (name !== collection && stagingTarget(name) !== collection) return undefined;
    let t = tracked.get(name);
    if (t === undefined) {
      const listed = snap.manifest.collections.find((c) => c.config['name'] === name);
      t = newTracked(listed);
      tracked.set(name, t);
    }
    return t;
  };
  track(collection);
  await scanWal(fs, `${snap.dir}/${WAL_DIR}`, {
    cleanlyClosed: false,
    fromLsn: snap.manifest.walStartLsn,
    onRecord: (r, file, offset) => {
      if (r.lsn > snap.lsn) return;
      const op = decodeWalOp(r.type, r.body, file, offset);
      if (op.kind === 'swap-collection') {
        const t = op.target === collection ? track(op.target) : undefined;
        if (t === undefined || r.lsn <= t.createdLsn) return;
        tracked.set(collection, track(op.staging) ?? newTracked(undefined));
        tracked.delete(op.staging);
        return;
      }
      // A config update changes no point.
      if (op.kind === 'update-collection') return;
      const name =
        op.kind === 'create-collection'
          ? jsonString(op.config['name'])
          : op.kind === 'drop-collection'
            ? op.name
            : op.collection;
      const t = track(name);
      if (t === undefined) return;
      applyToTracked(t, op, r.lsn);
    },
  });
  return tracked.get(collection)!;
}

/** A sealed segment of the snapshot and its deleted slots. */
async function readSegment(
  fs: FileSystem,
  snap: PinnedSnapshot,
  s: ManifestCollection['segments'][number],
): Promise<{ data: SegmentData; deleted: Set<number> }> {
  const path = `${snap.dir}/${SEGMENT_DIR}/${s.file}`;
  const data = decodeSegment(await fs.readFile(path), path);
  const deleted = new Set<number>();
  if (s.tombstones !== null) {
    const tpath = `${snap.dir}/${SEGMENT_DIR}/${s.tombstones}`;
    for (const slot of decodeTombstones(await fs.readFile(tpath), tpath).slots) {
      deleted.add(slot);
    }
  }
  return { data, deleted };
}

/** A sealed point's payload with the WAL tail's payload updates of it applied. */
function patched(json: string, e: OverlayEntry | undefined): Payload {
  let payload: Payload = json === '' ? {} : (JSON.parse(json) as Payload);
  if (e?.kind === 'patch') {
    for (const p of e.patches) payload = applyPayloadUpdate(payload, p.mode, p.payloadJson, p.keys);
  }
  return payload;
}

/**
 * Exports `collection` of the database in `dir` to `sink` as JSON Lines, from a pinned
 * snapshot (safe while a writer runs).
 */
export async function exportCollection(
  dir: string,
  collection: string,
  sink: TextSink,
  options: { fileSystem?: FileSystem; progress?: ProgressFn } = {},
): Promise<ExportReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  const snap = await pinSnapshot(dir, { fileSystem: fs });
  let points = 0;
  try {
    let batch: string[] = [];
    for await (const p of snapshotPoints(fs, snap, collection, options.progress)) {
      batch.push(`${JSON.stringify(p)}\n`);
      points++;
      if (batch.length >= 256) {
        await sink.write(batch.join(''));
        batch = [];
      }
    }
    if (batch.length > 0) await sink.write(batch.join(''));
    await sink.close();
  } finally {
    await snap.release();
  }
  return {
    collection,
    points,
    lsn: snap.lsn,
    duration_seconds: (performance.now() - t0) / 1000,
  };
}
