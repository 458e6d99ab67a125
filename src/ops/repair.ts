/**
 * repair: salvages every readable point of a damaged database into a new database (never
 * modifying the source): each readable segment (minus its tombstones), then the intact WAL
 * records after it, replayed through the embedded API, so indexes are rebuilt. Reports
 * exactly what was lost — ids when the segment's id section is readable, else segment
 * and count — and the WAL records after the first bad one. Works without a manifest too.
 */
import { crc32c } from '../common/crc32c.js';
import { QuiverError } from '../common/quiver-error.js';
import type { JsonObject, MetricName, Payload, PointId } from '../common/types.js';
import { Quiver } from '../engine/quiver.js';
import { stagingTarget } from '../engine/staging-name.js';
import type { Collection } from '../engine/collection.js';
import { MANIFEST_FILE, SEGMENT_DIR, SegmentSection, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Manifest, ManifestSegment } from '../storage/manifest/manifest.js';
import { readManifest } from '../storage/manifest/manifest.js';
import { decodeSegment } from '../storage/segment/segment-file.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import type { WalOp } from '../storage/wal/wal-body-codec.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import { readCleanMark } from '../storage/clean-mark.js';
import { segmentSections } from './graph-check.js';
import { jsonString, prepareEmptyDir } from './ops-files.js';
import type { VerifyReport } from './verify.js';
import { verifyDatabase } from './verify.js';
import { describeWalGaps } from './wal-tools.js';

/** What could not be salvaged. */
export interface LostData {
  readonly file: string;
  readonly collection: string | undefined;
  readonly what: string;
  /** Points lost (from the manifest when the file is unreadable). */
  readonly points: number | undefined;
  /** Their ids, when readable (first 1000). */
  readonly ids: readonly PointId[] | undefined;
}

export interface RepairReport {
  readonly source: string;
  readonly output: string;
  readonly manifestReadable: boolean;
  readonly collections: readonly { readonly name: string; readonly points: number }[];
  readonly segmentsSalvaged: number;
  readonly walRecordsReplayed: number;
  readonly lost: readonly LostData[];
  /** Damage that lost nothing (e.g. a graph section: the index is rebuilt anyway). */
  readonly notes: readonly string[];
  readonly verify: VerifyReport;
  readonly duration_seconds: number;
}

/** Tries to read just the IDS section of a damaged segment (its CRC checked alone). */
function readableIds(bytes: Uint8Array): PointId[] | undefined {
  try {
    const s = segmentSections(bytes).find((x) => x.kind === SegmentSection.IDS);
    if (s === undefined || s.offset + s.length > bytes.length) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const ids: PointId[] = [];
    for (let p = s.offset; p < s.offset + s.length;) {
      const tag = bytes[p]!;
      if (tag === 0) {
        ids.push(view.getUint32(p + 1, true) + view.getUint32(p + 5, true) * 0x1_0000_0000);
        p += 9;
      } else if (tag === 1) {
        const n = view.getUint16(p + 1, true);
        ids.push(
          new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(p + 3, p + 3 + n)),
        );
        p += 3 + n;
      } else if (tag === 255) p += 1;
      else return undefined;
    }
    return ids;
  } catch {
    return undefined;
  }
}

/**
 * The segment without its GRAPH section (a copy with the section table rewritten and its
 * checksums recomputed): a damaged graph loses no point, the index is rebuilt anyway.
 */
function withoutGraph(bytes: Uint8Array): Uint8Array | undefined {
  const sections = segmentSections(bytes);
  const at = sections.findIndex((x) => x.kind === SegmentSection.GRAPH);
  if (at < 0) return undefined;
  const out = bytes.slice();
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const count = view.getUint32(28, true);
  view.setUint32(28, count - 1, true);
  view.setUint32(60, crc32c(out.subarray(0, 60)), true);
  const tableStart = 64 + view.getUint16(26, true);
  const entry = tableStart + at * 24;
  out.copyWithin(entry, entry + 24, tableStart + count * 24);
  const tableEnd = tableStart + (count - 1) * 24;
  view.setUint32(tableEnd, crc32c(out.subarray(64, tableEnd)), true);
  return out;
}

interface SegmentRef {
  readonly collection: string | undefined;
  readonly seg: ManifestSegment | undefined;
  readonly file: string;
}

/**
 * Salvages the database in `dir` into the new (empty) directory `out`. `dir` is only read;
 * stop a writer using it first (or repair a backup copy).
 */
export async function repairDatabase(
  dir: string,
  out: string,
  options: { fileSystem?: FileSystem; force?: boolean } = {},
): Promise<RepairReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  if (!(await fs.exists(dir))) {
    throw new QuiverError('INVALID_ARGUMENT', `Database directory ${dir} does not exist.`, {
      file: dir,
    });
  }
  await fs.mkdirp(out);
  await prepareEmptyDir(fs, out, options.force === true, 'Repair output');
  const lost: LostData[] = [];
  const notes: string[] = [];
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(fs, dir);
  } catch (e) {
    lost.push({
      file: `${dir}/${MANIFEST_FILE}`,
      collection: undefined,
      what: `manifest unreadable (${e instanceof Error ? e.message : String(e)}); collections rebuilt from segment headers with default index settings`,
      points: undefined,
      ids: undefined,
    });
  }
  const db = await Quiver.open(out, { autoCompact: false });
  const counts = new Map<string, number>();
  let salvaged = 0;
  let replayed = 0;
  try {
    // Staging collections of a restore (engine/staging-name.ts) are rebuilt as staging
    // collections: a SWAP_COLLECTION record in the WAL puts one in place, and one without
    // its swap is dropped at the end, as the engine's open would.
    const staged = new Map<string, Collection>();
    const lookup = (name: string): Collection | undefined =>
      staged.get(name) ?? (db.hasCollection(name) ? db.collection(name) : undefined);
    const ensure = async (
      name: string,
      dimension: number,
      metric: MetricName,
      config?: JsonObject,
    ): Promise<Collection> => {
      const existing = lookup(name);
      if (existing !== undefined) return existing;
      const hnsw = (config?.['hnsw'] ?? undefined) as
        { m: number; efConstruction: number; efSearch: number } | undefined;
      const options = { dimension, metric, ...(hnsw === undefined ? {} : { hnsw }) };
      const target = stagingTarget(name);
      if (target === undefined) return db.createCollection(name, options);
      const c = await db.createStagingCollection(target, options);
      staged.set(name, c);
      return c;
    };
    // Segments: the manifest's, or every segment file when it is unreadable.
    const refs: SegmentRef[] = [];
    if (manifest !== undefined) {
      for (const c of manifest.collections) {
        const name = jsonString(c.config['name']);
        await ensure(
          name,
          Number(c.config['dimension']),
          c.config['metric'] as MetricName,
          c.config,
        );
        for (const s of c.segments) refs.push({ collection: name, seg: s, file: s.file });
      }
    } else {
      for (const f of await fs.list(`${dir}/${SEGMENT_DIR}`)) {
        if (f.endsWith('.qseg')) refs.push({ collection: undefined, seg: undefined, file: f });
      }
    }
    const allFiles = await fs.list(`${dir}/${SEGMENT_DIR}`);
    for (const ref of refs) {
      const path = `${dir}/${SEGMENT_DIR}/${ref.file}`;
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(path);
      } catch (e) {
        lost.push({
          file: path,
          collection: ref.collection,
          what: `segment file unreadable: ${e instanceof Error ? e.message : String(e)}`,
          points: ref.seg?.points,
          ids: undefined,
        });
        continue;
      }
      let data;
      let damage = '';
      try {
        data = decodeSegment(bytes, path);
      } catch (e) {
        damage = e instanceof Error ? e.message : String(e);
        let salvaged;
        try {
          const stripped = withoutGraph(bytes);
          salvaged = stripped === undefined ? undefined : decodeSegment(stripped, path);
        } catch {
          salvaged = undefined;
        }
        if (salvaged !== undefined) {
          data = salvaged;
          notes.push(
            `${path}: graph section damaged (${damage}); every point was read from the other sections and re-indexed`,
          );
        }
      }
      if (data === undefined) {
        const ids = readableIds(bytes);
        lost.push({
          file: path,
          collection: ref.collection,
          what: `segment damaged: ${damage}`,
          points: ids === undefined ? ref.seg?.points : ids.length,
          ids: ids?.slice(0, 1000),
        });
        continue;
      }
      const name = ref.collection ?? data.collection;
      const c = await ensure(name, data.dimension, data.metric);
      // Tombstones: the manifest's generation, or the newest file for this segment.
      const deleted = new Set<number>();
      const tomb =
        ref.seg !== undefined
          ? ref.seg.tombstones
          : (allFiles
              .filter((f) => f.startsWith(ref.file.replace('.qseg', '.')) && f.endsWith('.tomb'))
              .pop() ?? null);
      if (tomb !== null) {
        const tpath = `${dir}/${SEGMENT_DIR}/${tomb}`;
        try {
          for (const slot of decodeTombstones(await fs.readFile(tpath), tpath).slots)
            deleted.add(slot);
        } catch (e) {
          lost.push({
            file: tpath,
            collection: name,
            what: `tombstones unreadable (${e instanceof Error ? e.message : String(e)}): points deleted from this segment may reappear`,
            points: 0,
            ids: undefined,
          });
        }
      }
      const dim = data.dimension;
      let batch: { id: PointId; vector: Float32Array; payload: Payload }[] = [];
      for (let slot = 0; slot < data.ids.length; slot++) {
        const id = data.ids[slot];
        if (id === undefined || deleted.has(slot)) continue;
        const json = data.payloads[slot]!;
        batch.push({
          id,
          vector: data.vectors.slice(slot * dim, (slot + 1) * dim),
          payload: json === '' ? {} : (JSON.parse(json) as Payload),
        });
        if (batch.length >= 1024) {
          await c.upsert(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await c.upsert(batch);
      salvaged++;
    }
    // The WAL after the segments, up to the first bad record.
    const sealedThrough = new Map<string, number>();
    for (const c of manifest?.collections ?? [])
      sealedThrough.set(jsonString(c.config['name']), c.sealedThroughLsn);
    const ops: { lsn: number; op: WalOp }[] = [];
    const scan = await scanWal(fs, `${dir}/${WAL_DIR}`, {
      cleanlyClosed: false,
      stopAtDamage: true,
      fromLsn: manifest?.walStartLsn ?? 1,
      onRecord: (r, file, offset) => {
        try {
          ops.push({ lsn: r.lsn, op: decodeWalOp(r.type, r.body, file, offset) });
        } catch (e) {
          lost.push({
            file,
            collection: undefined,
            what: `WAL record ${r.lsn} at offset ${offset} does not decode: ${e instanceof Error ? e.message : String(e)}`,
            points: undefined,
            ids: undefined,
          });
        }
      },
    });
    // Log files that are gone lost their writes: the continuity check names the range.
    const mark = await readCleanMark(fs, dir).catch(() => undefined);
    const gaps = describeWalGaps(
      scan,
      manifest ?? { walStartLsn: 1, checkpointLsn: 0 },
      mark,
      `${dir}/${WAL_DIR}`,
    ).filter((g) => manifest !== undefined || g.kind === 'clean-mark-mismatch');
    for (const g of gaps) {
      lost.push({
        file: `${dir}/${WAL_DIR}`,
        collection: undefined,
        what: `WAL records ${g.what}; their writes could not be replayed`,
        points: undefined,
        ids: undefined,
      });
    }
    if (scan.tornTail !== undefined) {
      lost.push({
        file: scan.tornTail.file,
        collection: undefined,
        what: `WAL damaged at offset ${scan.tornTail.offset} (${scan.tornTail.reason}); ${scan.tornTail.droppedBytes} bytes after it (and later WAL files) not replayed`,
        points: undefined,
        ids: undefined,
      });
    }
    for (const { lsn, op } of ops) {
      if (op.kind === 'create-collection') {
        const name = jsonString(op.config['name']);
        if (lookup(name) === undefined) {
          await ensure(
            name,
            Number(op.config['dimension']),
            op.config['metric'] as MetricName,
            op.config,
          );
        }
        continue;
      }
      if (op.kind === 'drop-collection') {
        const c = lookup(op.name);
        if (c === undefined || lsn <= (sealedThrough.get(op.name) ?? 0)) continue;
        if (staged.delete(op.name)) await db.dropStagingCollection(c);
        else await db.dropCollection(op.name);
        continue;
      }
      if (op.kind === 'swap-collection') {
        const c = staged.get(op.staging);
        if (c === undefined || lsn <= (sealedThrough.get(op.target) ?? 0)) continue;
        staged.delete(op.staging);
        await db.swapCollection(c);
        continue;
      }
      const c = lookup(op.collection);
      if (lsn <= (sealedThrough.get(op.collection) ?? 0) || c === undefined) continue;
      if (op.kind === 'upsert') {
        await c.upsert(
          op.points.map((p) => ({
            id: p.id,
            vector: p.vector,
            payload: p.payloadJson === '' ? {} : (JSON.parse(p.payloadJson) as Payload),
          })),
        );
      } else if (op.kind === 'delete') {
        await c.delete(op.ids);
      } else if (op.mode === 'merge') {
        await c.setPayload(op.ids, JSON.parse(op.payloadJson) as Payload);
      } else if (op.mode === 'overwrite') {
        await c.overwritePayload(op.ids, JSON.parse(op.payloadJson) as Payload);
      } else if (op.mode === 'delete-keys') {
        await c.deletePayloadKeys(op.ids, op.keys);
      } else {
        await c.clearPayload(op.ids);
      }
      replayed++;
    }
    for (const c of staged.values()) await db.dropStagingCollection(c);
    await db.checkpoint();
    for (const c of await db.listCollections()) counts.set(c.name, c.points);
  } finally {
    await db.close();
  }
  const verify = await verifyDatabase(out, { fileSystem: fs, online: false });
  return {
    source: dir,
    output: out,
    manifestReadable: manifest !== undefined,
    collections: [...counts].map(([name, points]) => ({ name, points })),
    segmentsSalvaged: salvaged,
    walRecordsReplayed: replayed,
    lost,
    notes,
    verify,
    duration_seconds: (performance.now() - t0) / 1000,
  };
}
