/**
 * import: reads JSON Lines (`{"id":…,"vector":[…],"payload":{…}}` per line, as export writes
 * them) and upserts them in batches through the embedded API, so memory stays constant.
 * A bad line is reported with its line number; import stops there (default) or skips it.
 * Takes the writer's lock (it writes): stop a server using the directory first.
 */
import { QuiverError } from '../common/quiver-error.js';
import type { MetricName, Payload, PointId } from '../common/types.js';
import { Quiver } from '../engine/quiver.js';
import type { ProgressFn } from './progress.js';
import { NO_PROGRESS } from './progress.js';

export interface ImportOptions {
  /** Skip invalid lines (reported) instead of stopping at the first. */
  readonly skipInvalid?: boolean;
  /** Create the collection when missing, with this metric (dimension from the first point). */
  readonly metric?: MetricName;
  /** Points per upsert batch. Default 512. */
  readonly batchSize?: number;
  /**
   * Size of the input in bytes (a file's size), the total progress is measured against;
   * unknown (stdin) when absent: progress then counts bytes and points without a percentage.
   */
  readonly inputBytes?: number;
  readonly progress?: ProgressFn;
}

/** A line that could not be imported. */
export interface BadLine {
  readonly line: number;
  readonly reason: string;
}

export interface ImportReport {
  readonly status: 'ok' | 'stopped' | 'skipped-invalid';
  readonly collection: string;
  readonly created: boolean;
  readonly imported: number;
  readonly lines: number;
  /** Bad lines (at most the first 1000 are listed; `badLineCount` counts them all). */
  readonly badLines: readonly BadLine[];
  readonly badLineCount: number;
  readonly lastLsn: number;
  readonly duration_seconds: number;
}

interface ParsedPoint {
  readonly id: PointId;
  readonly vector: number[];
  readonly payload: Payload;
}

function parseLine(text: string, dimension: number | undefined): ParsedPoint | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON (${e instanceof Error ? e.message : String(e)})`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  const id = o['id'];
  if (
    !(typeof id === 'string' && id.length > 0) &&
    !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)
  ) {
    return 'id must be an unsigned integer or a non-empty string';
  }
  const vector = o['vector'];
  if (!Array.isArray(vector) || !vector.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return 'vector must be an array of finite numbers';
  }
  if (dimension !== undefined && vector.length !== dimension) {
    return `vector has ${vector.length} values, the collection's dimension is ${dimension}`;
  }
  const payload = o['payload'] ?? {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return 'payload must be a JSON object';
  }
  return { id, vector: vector as number[], payload: payload as Payload };
}

/**
 * Imports JSON Lines from `lines` into `collection` of the database in `dir` (opened, and
 * created if missing). Upserts in batches; a point with an existing id replaces it.
 */
export async function importCollection(
  dir: string,
  collection: string,
  lines: AsyncIterable<string>,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const t0 = performance.now();
  const progress = options.progress ?? NO_PROGRESS;
  const batchSize = options.batchSize ?? 512;
  const db = await Quiver.open(dir);
  const badLines: BadLine[] = [];
  let badLineCount = 0;
  let imported = 0;
  let lineNo = 0;
  let created = false;
  let lastLsn = 0;
  let stopped = false;
  let bytesRead = 0;
  const total = options.inputBytes ?? 0;
  // Progress follows the input read, not the points imported: only the input's size is
  // known up front, so that is what a percentage can be of.
  const report = (done: number): void =>
    progress({
      phase: 'import',
      done: total > 0 ? Math.min(done, total) : done,
      total,
      unit: 'bytes',
      detail: `${imported} points`,
    });
  try {
    let dimension = db.hasCollection(collection)
      ? db.collection(collection).config.dimension
      : undefined;
    let batch: ParsedPoint[] = [];
    let batchLines: number[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      if (!db.hasCollection(collection)) {
        await db.createCollection(collection, {
          dimension: batch[0]!.vector.length,
          metric: options.metric ?? 'cosine',
        });
        created = true;
      }
      try {
        const r = await db.collection(collection).upsert(batch);
        lastLsn = r.lsn;
        imported += batch.length;
      } catch (e) {
        if (!(e instanceof QuiverError) || e.code !== 'INVALID_ARGUMENT') throw e;
        // Find the offending lines one by one, so the report names them.
        for (let i = 0; i < batch.length; i++) {
          try {
            const r = await db.collection(collection).upsert([batch[i]!]);
            lastLsn = r.lsn;
            imported++;
          } catch (inner) {
            if (!(inner instanceof QuiverError) || inner.code !== 'INVALID_ARGUMENT') throw inner;
            badLineCount++;
            if (badLines.length < 1000)
              badLines.push({ line: batchLines[i]!, reason: inner.message });
            if (options.skipInvalid !== true) {
              stopped = true;
              break;
            }
          }
        }
      }
      batch = [];
      batchLines = [];
      report(bytesRead);
    };
    for await (const text of lines) {
      lineNo++;
      bytesRead += Buffer.byteLength(text) + 1;
      if (text.trim() === '') continue;
      const p = parseLine(text, dimension);
      if (typeof p === 'string') {
        badLineCount++;
        if (badLines.length < 1000) badLines.push({ line: lineNo, reason: p });
        if (options.skipInvalid !== true) {
          await flush(); // the lines before the bad one are imported
          stopped = true;
          break;
        }
        continue;
      }
      dimension ??= p.vector.length;
      batch.push(p);
      batchLines.push(lineNo);
      if (batch.length >= batchSize) {
        await flush();
        if (stopped) break;
      }
    }
    if (!stopped) {
      await flush();
      report(total > 0 ? total : bytesRead);
    }
  } finally {
    await db.close();
  }
  return {
    status: stopped ? 'stopped' : badLineCount > 0 ? 'skipped-invalid' : 'ok',
    collection,
    created,
    imported,
    lines: lineNo,
    badLines,
    badLineCount,
    lastLsn,
    duration_seconds: (performance.now() - t0) / 1000,
  };
}
