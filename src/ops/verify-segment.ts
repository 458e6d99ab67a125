/**
 * Verify's check of one sealed segment against its manifest entry: header, tombstones,
 * finite vectors, ids live in one segment only, JSON object payloads, and the graph
 * (every live point in it with the segment's vectors, reachable from its entry point).
 */
import { corrupt } from '../common/quiver-error.js';
import type { PointId } from '../common/types.js';
import { loadIndex } from '../engine/index-factory.js';
import { SEGMENT_DIR, SegmentSection } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import { decodeSegment } from '../storage/segment/segment-file.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import { checkGraph, segmentSections } from './graph-check.js';
import type { VerifyProblem } from './verify-problem.js';
import { ACTIONS, fromError, preview } from './verify-problem.js';

export type ManifestSegmentEntry = Manifest['collections'][number]['segments'][number];

/** Checks one sealed segment (and its tombstones); returns the live points counted. */
export async function checkSegment(
  fs: FileSystem,
  dir: string,
  collection: { name: string; dimension: number },
  s: ManifestSegmentEntry,
  seen: Map<PointId, string>,
  problems: VerifyProblem[],
): Promise<number> {
  const path = `${dir}/${SEGMENT_DIR}/${s.file}`;
  const bytes = await fs.readFile(path);
  const data = decodeSegment(bytes, path);
  checkSegmentHeader(data, path, collection, s);
  const sections = segmentSections(bytes);
  const sectionAt = (kind: number): number => sections.find((x) => x.kind === kind)?.offset ?? 0;
  const deleted = await checkTombstones(fs, dir, s, data.ids.length, problems);
  checkVectorsFinite(data, path, sectionAt(SegmentSection.VECTORS));
  const live = checkLivePoints(
    { data, path, file: s.file, collection: collection.name, deleted, sectionAt },
    seen,
    problems,
  );
  if (live !== s.points) {
    problems.push({
      severity: 'warning',
      file: path,
      offset: undefined,
      what: `the manifest counts ${s.points} live points in segment ${s.id}, the files hold ${live}`,
      action: 'none: counts are advisory; the next checkpoint rewrites them',
    });
  }
  // Loading the graph checks its checksum and that every edge is in range.
  loadIndex(data, path);
  if (data.graph !== undefined) {
    checkSegmentGraph(data, data.graph, path, deleted, sectionAt(SegmentSection.GRAPH), problems);
  }
  return live;
}

function checkSegmentHeader(
  data: SegmentData,
  path: string,
  collection: { name: string; dimension: number },
  s: ManifestSegmentEntry,
): void {
  // A segment taken over at a swap keeps its staging name in its header (format 1.2).
  if (data.segmentId !== s.id || data.collection !== (s.collection ?? collection.name)) {
    throw corrupt(path, 8, 'segment header (id or collection) does not match the manifest');
  }
  if (data.dimension !== collection.dimension) {
    throw corrupt(
      path,
      20,
      `segment dimension ${data.dimension} differs from the collection's ${collection.dimension}`,
    );
  }
}

/**
 * The segment's deleted slots; damage in its tombstone file is a problem, and the slots
 * read before the damage still count as deleted.
 */
async function checkTombstones(
  fs: FileSystem,
  dir: string,
  s: ManifestSegmentEntry,
  slotCount: number,
  problems: VerifyProblem[],
): Promise<Set<number>> {
  const deleted = new Set<number>();
  if (s.tombstones === null) return deleted;
  const tpath = `${dir}/${SEGMENT_DIR}/${s.tombstones}`;
  try {
    const t = decodeTombstones(await fs.readFile(tpath), tpath);
    if (t.segmentId !== s.id) throw corrupt(tpath, 8, 'tombstones belong to another segment');
    if (t.generation !== s.tombstoneGeneration) {
      throw corrupt(
        tpath,
        16,
        `tombstone generation ${t.generation} differs from the manifest's ${s.tombstoneGeneration}`,
      );
    }
    let prev = -1;
    for (let i = 0; i < t.slots.length; i++) {
      const slot = t.slots[i]!;
      if (slot >= slotCount || slot <= prev) {
        throw corrupt(tpath, 24 + 4 * i, `tombstone slot ${slot} is out of range or out of order`);
      }
      prev = slot;
      deleted.add(slot);
    }
  } catch (e) {
    problems.push(fromError(e, tpath, ACTIONS.repairSegment));
  }
  return deleted;
}

function checkVectorsFinite(data: SegmentData, path: string, vecBase: number): void {
  const dim = data.dimension;
  for (let i = 0; i < data.vectors.length; i++) {
    if (!Number.isFinite(data.vectors[i]!)) {
      const slot = Math.floor(i / dim);
      throw corrupt(path, vecBase + 4 * i, `vector value ${i % dim} of slot ${slot} is not finite`);
    }
  }
}

/** One decoded segment under check. */
interface SegmentUnderCheck {
  readonly data: SegmentData;
  readonly path: string;
  readonly file: string;
  readonly collection: string;
  readonly deleted: ReadonlySet<number>;
  readonly sectionAt: (kind: number) => number;
}

/**
 * Counts the live points, each id live in one segment of the collection only (`seen`
 * across its segments) and each payload a JSON object.
 */
function checkLivePoints(
  seg: SegmentUnderCheck,
  seen: Map<PointId, string>,
  problems: VerifyProblem[],
): number {
  const { data, path } = seg;
  let live = 0;
  for (let slot = 0; slot < data.ids.length; slot++) {
    const id = data.ids[slot];
    if (id === undefined || seg.deleted.has(slot)) continue;
    live++;
    const other = seen.get(id);
    if (other !== undefined) {
      problems.push({
        severity: 'error',
        file: path,
        offset: seg.sectionAt(SegmentSection.IDS),
        what: `point ${JSON.stringify(id)} of collection "${seg.collection}" is live in both ${other} and ${seg.file}`,
        action: ACTIONS.repairSegment,
      });
    }
    seen.set(id, seg.file);
    const json = data.payloads[slot]!;
    if (json !== '') {
      try {
        const v: unknown = JSON.parse(json);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError();
      } catch {
        throw corrupt(
          path,
          seg.sectionAt(SegmentSection.PAYLOADS),
          `payload of slot ${slot} is not a JSON object`,
        );
      }
    }
  }
  return live;
}

/** The graph covers every live point with the segment's vectors, reachable from its entry. */
function checkSegmentGraph(
  data: SegmentData,
  graph: NonNullable<SegmentData['graph']>,
  path: string,
  deleted: ReadonlySet<number>,
  graphAt: number,
  problems: VerifyProblem[],
): void {
  const dim = data.dimension;
  const g = checkGraph(
    graph,
    (slot) => data.ids[slot] !== undefined && !deleted.has(slot),
    data.vectors,
  );
  // A graph ends at its last indexed slot: slots past it must be holes (points deleted
  // or replaced before they were ever indexed need no node, and a seal writes none).
  const trailingLive = data.ids.slice(g.slots).some((id) => id !== undefined);
  if (g.slots > data.ids.length || trailingLive || g.dimension !== dim) {
    throw corrupt(
      path,
      graphAt,
      `graph has ${g.slots} slots of dimension ${g.dimension}, the segment ${data.ids.length} of ${dim}`,
    );
  }
  if (g.missing.length > 0) {
    throw corrupt(
      path,
      graphAt,
      `${g.missing.length} live points are not in the graph (slots ${preview(g.missing)})`,
    );
  }
  if (g.vectorMismatch.length > 0) {
    throw corrupt(
      path,
      graphAt,
      `graph vectors differ from the segment's for ${g.vectorMismatch.length} slots (${preview(g.vectorMismatch)})`,
    );
  }
  if (g.unreachable.length > 0) {
    problems.push({
      severity: 'warning',
      file: path,
      offset: graphAt,
      what: `${g.unreachable.length} live points are unreachable from the graph's entry point (slots ${preview(g.unreachable)})`,
      action: ACTIONS.compact,
    });
  }
}
