/**
 * Segment salvage: what repair (ops/repair.ts) can still read of a segment file that does
 * not decode — its ids alone, or the whole segment without a damaged graph section.
 */
import { crc32c } from '../common/crc32c.js';
import type { PointId } from '../common/types.js';
import { SegmentSection } from '../storage/format.js';
import { segmentSections } from './graph-check.js';

/** Tries to read just the IDS section of a damaged segment (its CRC checked alone). */
export function readableIds(bytes: Uint8Array): PointId[] | undefined {
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
export function withoutGraph(bytes: Uint8Array): Uint8Array | undefined {
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
