/**
 * verify: the invariant checker behind `quiver verify`, the admin integrity check and the
 * test suite. Reads a database directory without taking its lock and without changing a
 * byte: every checksum, every manifest reference, segment invariants, tombstones, WAL
 * continuity from the manifest's start. Returns a typed report.
 */
import { corrupt, isQuiverError } from '../common/quiver-error.js';
import type { PointId } from '../common/types.js';
import { loadIndex } from '../engine/index-factory.js';
import { readCleanMark } from '../storage/clean-mark.js';
import { MANIFEST_FILE, SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Manifest } from '../storage/manifest/manifest.js';
import { readManifest } from '../storage/manifest/manifest.js';
import { decodeSegment } from '../storage/segment/segment-file.js';
import { decodeTombstones } from '../storage/segment/tombstone-file.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import { scanWal } from '../storage/wal/wal-reader.js';

export interface VerifyProblem {
  readonly severity: 'error' | 'warning';
  readonly file: string;
  readonly offset: number | undefined;
  readonly what: string;
  readonly action: string;
}

export interface VerifyReport {
  readonly status: 'ok' | 'problems';
  readonly checked_vectors: number;
  readonly checked_segments: number;
  readonly checked_wal_records: number;
  readonly errors: number;
  readonly warnings: number;
  readonly duration_seconds: number;
  readonly problems: readonly VerifyProblem[];
}

const RESTORE = 'restore this database from a backup, or salvage it with "quiver repair"';

function fromError(e: unknown, fallbackFile: string): VerifyProblem {
  if (isQuiverError(e)) {
    const file = typeof e.details.file === 'string' ? e.details.file : fallbackFile;
    const offset = typeof e.details.offset === 'number' ? e.details.offset : undefined;
    return { severity: 'error', file, offset, what: e.message, action: RESTORE };
  }
  return {
    severity: 'error',
    file: fallbackFile,
    offset: undefined,
    what: e instanceof Error ? e.message : String(e),
    action: RESTORE,
  };
}

/** Checks the database in `dir`. Never throws for damage: damage is a problem in the report. */
export async function verifyDatabase(
  dir: string,
  options: { fileSystem?: FileSystem } = {},
): Promise<VerifyReport> {
  const t0 = performance.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  const problems: VerifyProblem[] = [];
  let vectors = 0;
  let segments = 0;
  let records = 0;
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(fs, dir);
  } catch (e) {
    problems.push(fromError(e, `${dir}/${MANIFEST_FILE}`));
  }
  const referenced = new Set<string>();
  if (manifest !== undefined) {
    for (const c of manifest.collections) {
      const name = typeof c.config['name'] === 'string' ? c.config['name'] : '';
      const dimension = Number(c.config['dimension']);
      const seen = new Map<PointId, string>();
      for (const s of c.segments) {
        referenced.add(s.file);
        const path = `${dir}/${SEGMENT_DIR}/${s.file}`;
        try {
          if (!(await fs.exists(path))) {
            problems.push({
              severity: 'error',
              file: path,
              offset: undefined,
              what: `segment ${s.id} of collection "${name}" is listed in the manifest but missing`,
              action: RESTORE,
            });
            continue;
          }
          const data = decodeSegment(await fs.readFile(path), path);
          segments++;
          if (data.segmentId !== s.id || data.collection !== name || data.dimension !== dimension) {
            throw corrupt(path, 8, 'segment header does not match the manifest');
          }
          const deleted = new Set<number>();
          if (s.tombstones !== null) {
            referenced.add(s.tombstones);
            const tpath = `${dir}/${SEGMENT_DIR}/${s.tombstones}`;
            const t = decodeTombstones(await fs.readFile(tpath), tpath);
            if (t.segmentId !== s.id)
              throw corrupt(tpath, 8, 'tombstones belong to another segment');
            for (const slot of t.slots) {
              if (slot >= data.ids.length)
                throw corrupt(tpath, 24, `tombstone slot ${slot} out of range`);
              deleted.add(slot);
            }
          }
          for (let i = 0; i < data.vectors.length; i++) {
            if (!Number.isFinite(data.vectors[i]!)) {
              throw corrupt(path, 0, `vector value ${i} is not finite`);
            }
          }
          for (let slot = 0; slot < data.ids.length; slot++) {
            const id = data.ids[slot];
            if (id === undefined || deleted.has(slot)) continue;
            vectors++;
            const other = seen.get(id);
            if (other !== undefined) {
              problems.push({
                severity: 'error',
                file: path,
                offset: undefined,
                what: `point ${JSON.stringify(id)} is live in both ${other} and ${s.file}`,
                action: RESTORE,
              });
            }
            seen.set(id, s.file);
            try {
              const json = data.payloads[slot]!;
              if (json !== '') JSON.parse(json);
            } catch {
              throw corrupt(path, 0, `payload of slot ${slot} is not JSON`);
            }
          }
          // Loading the graph checks every edge is in range.
          loadIndex(data, path);
        } catch (e) {
          problems.push(fromError(e, path));
        }
      }
    }
    for (const name of await fs.list(`${dir}/${SEGMENT_DIR}`)) {
      if (!referenced.has(name)) {
        problems.push({
          severity: 'warning',
          file: `${dir}/${SEGMENT_DIR}/${name}`,
          offset: undefined,
          what: 'file is not referenced by the manifest (left by an interrupted seal or compaction)',
          action: 'none: the next open removes it',
        });
      }
    }
  }
  try {
    const mark = await readCleanMark(fs, dir);
    const scan = await scanWal(fs, `${dir}/${WAL_DIR}`, {
      cleanlyClosed: mark !== undefined,
      fromLsn: manifest?.walStartLsn ?? 1,
      onRecord: (r, file, offset) => {
        decodeWalOp(r.type, r.body, file, offset);
        records++;
      },
    });
    if (
      manifest !== undefined &&
      scan.firstLsn !== undefined &&
      scan.firstLsn > manifest.walStartLsn &&
      scan.lastLsn >= manifest.walStartLsn
    ) {
      problems.push({
        severity: 'error',
        file: scan.files[0]?.path ?? `${dir}/${WAL_DIR}`,
        offset: 16,
        what: `WAL starts at LSN ${scan.firstLsn}, after the manifest's replay start ${manifest.walStartLsn}`,
        action: RESTORE,
      });
    }
    if (scan.tornTail !== undefined) {
      problems.push({
        severity: 'warning',
        file: scan.tornTail.file,
        offset: scan.tornTail.offset,
        what: `torn WAL tail of ${scan.tornTail.droppedBytes} bytes (a crash mid-append)`,
        action: 'none: the next open truncates it',
      });
    }
  } catch (e) {
    problems.push(fromError(e, `${dir}/${WAL_DIR}`));
  }
  const errors = problems.filter((p) => p.severity === 'error').length;
  return {
    status: errors === 0 ? 'ok' : 'problems',
    checked_vectors: vectors,
    checked_segments: segments,
    checked_wal_records: records,
    errors,
    warnings: problems.length - errors,
    duration_seconds: (performance.now() - t0) / 1000,
    problems,
  };
}
