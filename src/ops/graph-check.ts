/**
 * Structural checks of a segment file beyond its checksums, for verify: where each section
 * lies (so a problem can name its byte offset), and the HNSW graph's reachability — every
 * live point must be reachable from the entry point, or search can never return it.
 * Reads the layouts of docs/FORMAT.md §5.1 and src/ann/hnsw/hnsw-codec.ts; no I/O.
 */
import { hnswMajor, hnswSections } from '../ann/hnsw/hnsw-codec.js';

/** A section of a segment file: kind (FORMAT.md §5.2), byte offset and length. */
export interface SectionEntry {
  readonly kind: number;
  readonly offset: number;
  readonly length: number;
}

/** The section table of a segment file whose checksums already passed. */
export function segmentSections(bytes: Uint8Array): SectionEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nameLength = view.getUint16(26, true);
  const count = view.getUint32(28, true);
  const out: SectionEntry[] = [];
  let at = 64 + nameLength;
  for (let i = 0; i < count && at + 24 <= bytes.length; i++, at += 24) {
    out.push({
      kind: view.getUint32(at, true),
      offset: Number(view.getBigUint64(at + 8, true)),
      length: Number(view.getBigUint64(at + 16, true)),
    });
  }
  return out;
}

/** What the graph check found. */
export interface GraphCheck {
  readonly slots: number;
  readonly dimension: number;
  /** Live slots (by the segment) that are not present as graph nodes. */
  readonly missing: readonly number[];
  /** Live slots that no path from the entry point reaches. */
  readonly unreachable: readonly number[];
  /**
   * Live slots whose vector in the graph differs from the segment's VECTORS section (a
   * format-1 graph's own copy; a format-2 graph has none, so none differ).
   */
  readonly vectorMismatch: readonly number[];
}

const FLAG_PRESENT = 1;

/**
 * Checks an HNSW blob (already checksum- and range-checked by its decoder) against the
 * segment's live slots and vectors. `live(slot)` says whether the segment holds a point there.
 */
export function checkGraph(
  blob: Uint8Array,
  live: (slot: number) => boolean,
  vectors: Float32Array,
): GraphCheck {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const dim = view.getUint32(8, true);
  const m = view.getUint16(14, true);
  const slots = view.getUint32(24, true);
  const entry = view.getInt32(28, true);
  const major = hnswMajor(blob);
  const { flags, levels, upperOff, links0, vecs, upper } = hnswSections(slots, dim, m, 0, major);
  const ownVectors = vecs !== upper;
  const stride0 = (1 + 2 * m) * 4;
  const strideU = (1 + m) * 4;

  const seen = new Uint8Array(slots);
  if (entry >= 0 && entry < slots) {
    const queue: number[] = [entry];
    seen[entry] = 1;
    while (queue.length > 0) {
      const id = queue.pop()!;
      const visit = (at: number): void => {
        const count = view.getInt32(at, true);
        for (let j = 0; j < count; j++) {
          const t = view.getInt32(at + 4 + 4 * j, true);
          if (t >= 0 && t < slots && seen[t] === 0) {
            seen[t] = 1;
            queue.push(t);
          }
        }
      };
      visit(links0 + id * stride0);
      const level = blob[levels + id]!;
      if (level > 0) {
        const off = view.getUint32(upperOff + id * 4, true);
        for (let l = 1; l <= level; l++) visit(upper + off + (l - 1) * strideU);
      }
    }
  }
  const missing: number[] = [];
  const unreachable: number[] = [];
  const vectorMismatch: number[] = [];
  for (let slot = 0; slot < slots; slot++) {
    if (!live(slot)) continue;
    if ((blob[flags + slot]! & FLAG_PRESENT) === 0) {
      missing.push(slot);
      continue;
    }
    if (seen[slot] === 0) unreachable.push(slot);
    if (!ownVectors) continue;
    const base = vecs + slot * dim * 4;
    for (let d = 0; d < dim; d++) {
      const a = view.getFloat32(base + d * 4, true);
      const b = vectors[slot * dim + d];
      if (a !== b && !(Number.isNaN(a) && b !== undefined && Number.isNaN(b))) {
        vectorMismatch.push(slot);
        break;
      }
    }
  }
  return { slots, dimension: dim, missing, unreachable, vectorMismatch };
}
