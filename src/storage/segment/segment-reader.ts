/**
 * Opening a segment file without reading it whole: its layout and every section but the
 * vectors, each with one positioned read and checked against its checksum, and the vectors
 * as a VectorStream over the same handle. For segments whose vectors stay on disk, where
 * holding the file's bytes during the open is exactly the memory the collection saves.
 */
import { SEGMENT_HEADER_SIZE, SegmentSection } from '../format.js';
import type { FileHandle, FileSystem } from '../io/file-system.js';
import type { Section, SegmentLayout, SegmentParts } from './segment-file.js';
import {
  checkedSection,
  decodeSegmentParts,
  readSegmentLayout,
  segmentLayoutBytes,
} from './segment-file.js';
import { VectorStream } from './vector-stream.js';

/** A segment file opened for streaming; `close()` when done (the stream reads through it). */
export interface StreamedSegment {
  readonly parts: SegmentParts;
  /** The VECTORS section, to read in slot order; finish() checks its checksum. */
  readonly vectors: VectorStream;
  /** Where the VECTORS section starts (segment-file.ts `vectorsSectionOffset`). */
  readonly vectorsOffset: number;
  readonly fileBytes: number;
  close(): Promise<void>;
}

/** Opens the segment file at `path` and decodes all of it but its vectors. */
export async function openSegmentStreamed(fs: FileSystem, path: string): Promise<StreamedSegment> {
  const handle = await fs.open(path, 'read');
  try {
    const fileBytes = await handle.size();
    const layout = await readLayout(handle, path, fileBytes);
    const sections = new Map<number, Section>();
    for (const e of layout.sections) {
      if (e.kind === SegmentSection.VECTORS) continue;
      // The layout checked the section lies inside the file: a read cut short (the file
      // shrank since) fails the checksum.
      sections.set(e.kind, checkedSection(await handle.read(e.offset, e.length), e, path));
    }
    const parts = decodeSegmentParts(layout, sections, path);
    // decodeSegmentParts checked that the section is listed, with the header's size.
    const entry = layout.sections.find((e) => e.kind === SegmentSection.VECTORS)!;
    return {
      parts,
      vectors: new VectorStream(handle, entry, layout.dimension),
      vectorsOffset: entry.offset,
      fileBytes,
      close: () => handle.close(),
    };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** The header and section table: the fixed header first, then as much as it says. */
async function readLayout(
  handle: FileHandle,
  path: string,
  fileBytes: number,
): Promise<SegmentLayout> {
  const first = await handle.read(0, SEGMENT_HEADER_SIZE);
  const need = segmentLayoutBytes(first);
  const head = need <= first.length ? first : await handle.read(0, need);
  return readSegmentLayout(head, path, fileBytes);
}
