/**
 * Recovery: the steps that bring a database directory from disk into memory, in the
 * order docs/DESIGN.md lists them. Replays the WAL into a catalog of growing segments,
 * classifies damage, and hands back the position where the writer continues.
 */
import type { Logger } from '../common/logger.js';
import { corrupt } from '../common/quiver-error.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { TornTail } from '../storage/wal/wal-reader.js';
import { scanWal } from '../storage/wal/wal-reader.js';
import type { WalOp } from '../storage/wal/wal-body-codec.js';
import { decodeWalOp } from '../storage/wal/wal-body-codec.js';
import type { WalPosition } from '../storage/wal/wal-writer.js';
import type { CleanMark } from '../storage/clean-mark.js';
import { GrowingSegment } from './growing-segment.js';
import { configFromJson } from './validation.js';
import type { Payload } from '../common/types.js';

/** What the last open found and did. */
export interface RecoveryReport {
  /** True when the previous session closed cleanly. */
  readonly cleanShutdown: boolean;
  readonly walFiles: number;
  readonly recordsReplayed: number;
  readonly lastLsn: number;
  /** The damaged end of the log that was cut off, when the last session crashed mid-append. */
  readonly tornTail: TornTail | undefined;
  readonly durationMs: number;
}

export interface RecoveredState {
  readonly catalog: Map<string, GrowingSegment>;
  readonly position: WalPosition | undefined;
  readonly otherWalBytes: number;
  readonly report: RecoveryReport;
}

/** Applies one logged operation to the catalog. Shared by replay and the live write path. */
export function applyOp(
  catalog: Map<string, GrowingSegment>,
  op: WalOp,
  logger: Logger,
  lsn: number,
): void {
  switch (op.kind) {
    case 'create-collection': {
      const config = configFromJson(op.config);
      catalog.set(config.name, new GrowingSegment(config));
      return;
    }
    case 'drop-collection':
      catalog.delete(op.name);
      return;
    case 'upsert': {
      const seg = catalog.get(op.collection);
      if (seg === undefined || seg.config.dimension !== op.dimension) {
        logger.warn(
          { lsn, collection: op.collection },
          'WAL upsert for a missing collection skipped',
        );
        return;
      }
      seg.upsert(
        op.points.map((p) => ({
          id: p.id,
          vector: p.vector,
          payload: p.payloadJson === '' ? {} : (JSON.parse(p.payloadJson) as Payload),
        })),
      );
      return;
    }
    case 'delete': {
      catalog.get(op.collection)?.delete(op.ids);
      return;
    }
    default: {
      const never: never = op;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Steps 3–5 of recovery: replay the WAL, check it against the clean-shutdown mark,
 * and report a torn tail. Steps 1–2 (lock, read mark) and 6–7 (open writer, remove
 * mark) are the caller's.
 */
export async function replayWal(
  fs: FileSystem,
  walDir: string,
  mark: CleanMark | undefined,
  logger: Logger,
): Promise<RecoveredState> {
  const t0 = performance.now();
  const catalog = new Map<string, GrowingSegment>();
  const scan = await scanWal(fs, walDir, {
    cleanlyClosed: mark !== undefined,
    onRecord: (record, file, offset) => {
      applyOp(catalog, decodeWalOp(record.type, record.body, file, offset), logger, record.lsn);
    },
  });
  if (mark !== undefined) {
    const end = scan.end;
    const matches =
      end !== undefined
        ? end.seq === mark.walSeq && end.offset === mark.walOffset && scan.lastLsn === mark.lastLsn
        : mark.lastLsn === 0;
    if (!matches) {
      const last = scan.files[scan.files.length - 1];
      throw corrupt(
        last?.path ?? `${walDir}`,
        end?.offset ?? 0,
        `WAL ends at LSN ${scan.lastLsn} but the database was closed cleanly at LSN ${mark.lastLsn} (file ${mark.walSeq}, offset ${mark.walOffset}); log data is missing`,
      );
    }
  }
  if (scan.tornTail !== undefined) {
    logger.warn(
      { ...scan.tornTail },
      'torn WAL tail found (the last session crashed mid-append); it will be truncated',
    );
  }
  const last = scan.files[scan.files.length - 1];
  let otherWalBytes = 0;
  for (const f of scan.files) if (f !== last) otherWalBytes += f.size;
  return {
    catalog,
    position:
      scan.end === undefined
        ? undefined
        : { seq: scan.end.seq, offset: scan.end.offset, lastLsn: scan.lastLsn },
    otherWalBytes,
    report: {
      cleanShutdown: mark !== undefined,
      walFiles: scan.files.length,
      recordsReplayed: scan.records,
      lastLsn: scan.lastLsn,
      tornTail: scan.tornTail,
      durationMs: performance.now() - t0,
    },
  };
}
