/**
 * Opening a segment file without reading it whole: its layout first, then every section but
 * the vectors, each with one positioned read and checked against its checksum, and the
 * vectors as a VectorStream over the same handle. How the open loads a segment with a graph
 * (engine/segment-loader.ts): the file's bytes are never held whole, which for vectors on
 * disk is exactly the memory the collection saves.
 */
import { SEGMENT_HEADER_SIZE, SegmentSection } from '../format.js';
import type { FileHandle, FileSystem } from '../io/file-system.js';
import type { Section, SectionEntry, SegmentLayout, SegmentParts } from './segment-file.js';
import {
  checkedSection,
  decodeSegmentParts,
  readSegmentLayout,
  segmentLayoutBytes,
} from './segment-file.js';
import { VectorStream } from './vector-stream.js';

export class StreamedSegment {
  readonly path: string;
  /** The checked header and section table. */
  readonly layout: SegmentLayout;
  readonly fileBytes: number;
  /** The VECTORS section, to read in slot order; finishing() checks its checksum. */
  readonly vectors: VectorStream;
  private readonly handle: FileHandle;

  private constructor(handle: FileHandle, layout: SegmentLayout, fileBytes: number) {
    this.path = handle.path;
    this.handle = handle;
    this.layout = layout;
    this.fileBytes = fileBytes;
    this.vectors = new VectorStream(handle, this.vectorEntry(), layout.dimension);
  }

  /** Opens the file at `path` and checks its layout; close() it when done. */
  static async open(fs: FileSystem, path: string): Promise<StreamedSegment> {
    const handle = await fs.open(path, 'read');
    try {
      const fileBytes = await handle.size();
      const first = await handle.read(0, SEGMENT_HEADER_SIZE);
      const need = segmentLayoutBytes(first);
      const head = need <= first.length ? first : await handle.read(0, need);
      return new StreamedSegment(handle, readSegmentLayout(head, path, fileBytes), fileBytes);
    } catch (e) {
      await handle.close().catch(() => undefined); // the error says more than a failed close
      throw e;
    }
  }

  /** True when the table lists a section of `kind`. */
  has(kind: number): boolean {
    return this.layout.sections.some((e) => e.kind === kind);
  }

  /** Where the VECTORS section starts (segment-file.ts `vectorsSectionOffset`). */
  get vectorsOffset(): number {
    return this.vectorEntry().offset;
  }

  /**
   * Every section but the vectors, read, checked and decoded. Not kept here: the caller
   * drops the GRAPH section's bytes once its index holds them.
   */
  async readParts(): Promise<SegmentParts> {
    const sections = new Map<number, Section>();
    for (const e of this.layout.sections) {
      if (e.kind === SegmentSection.VECTORS) continue;
      // The layout checked the section lies inside the file: a read cut short (the file
      // shrank since) fails the checksum.
      sections.set(
        e.kind,
        checkedSection(await this.handle.read(e.offset, e.length), e, this.path),
      );
    }
    return decodeSegmentParts(this.layout, sections, this.path);
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  /** The VECTORS entry (readSegmentLayout refused a table without exactly one). */
  private vectorEntry(): SectionEntry {
    return this.layout.sections.find((e) => e.kind === SegmentSection.VECTORS)!;
  }
}
