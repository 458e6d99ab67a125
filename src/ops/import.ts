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

/** One import under way: its database, the batch being built, and the counts so far. */
interface ImportRun {
  readonly db: Quiver;
  readonly collection: string;
  readonly options: ImportOptions;
  /** Size of the input, when known (else 0). */
  readonly total: number;
  readonly badLines: BadLine[];
  badLineCount: number;
  imported: number;
  lineNo: number;
  created: boolean;
  lastLsn: number;
  stopped: boolean;
  bytesRead: number;
  batch: ParsedPoint[];
  /** The line number of each point in `batch`. */
  batchLines: number[];
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
  const db = await Quiver.open(dir);
  const run: ImportRun = {
    db,
    collection,
    options,
    total: options.inputBytes ?? 0,
    badLines: [],
    badLineCount: 0,
    imported: 0,
    lineNo: 0,
    created: false,
    lastLsn: 0,
    stopped: false,
    bytesRead: 0,
    batch: [],
    batchLines: [],
  };
  try {
    await importLines(run, lines);
    if (!run.stopped) {
      await flush(run);
      reportProgress(run, run.total > 0 ? run.total : run.bytesRead);
    }
  } finally {
    await db.close();
  }
  return {
    status: run.stopped ? 'stopped' : run.badLineCount > 0 ? 'skipped-invalid' : 'ok',
    collection,
    created: run.created,
    imported: run.imported,
    lines: run.lineNo,
    badLines: run.badLines,
    badLineCount: run.badLineCount,
    lastLsn: run.lastLsn,
    duration_seconds: (performance.now() - t0) / 1000,
  };
}

// Progress follows the input read, not the points imported: only the input's size is
// known up front, so that is what a percentage can be of.
function reportProgress(run: ImportRun, done: number): void {
  (run.options.progress ?? NO_PROGRESS)({
    phase: 'import',
    done: run.total > 0 ? Math.min(done, run.total) : done,
    total: run.total,
    unit: 'bytes',
    detail: `${run.imported} points`,
  });
}

/** Parses the lines into batches, flushing each full one, until the input ends or a stop. */
async function importLines(run: ImportRun, lines: AsyncIterable<string>): Promise<void> {
  const { db, collection, options } = run;
  const batchSize = options.batchSize ?? 512;
  let dimension = db.hasCollection(collection)
    ? db.collection(collection).config.dimension
    : undefined;
  for await (const text of lines) {
    run.lineNo++;
    run.bytesRead += Buffer.byteLength(text) + 1;
    if (text.trim() === '') continue;
    const p = parseLine(text, dimension);
    if (typeof p === 'string') {
      noteBadLine(run, run.lineNo, p);
      if (options.skipInvalid !== true) {
        await flush(run); // the lines before the bad one are imported
        run.stopped = true;
        break;
      }
      continue;
    }
    dimension ??= p.vector.length;
    run.batch.push(p);
    run.batchLines.push(run.lineNo);
    if (run.batch.length >= batchSize) {
      await flush(run);
      if (run.stopped) break;
    }
  }
}

function noteBadLine(run: ImportRun, line: number, reason: string): void {
  run.badLineCount++;
  if (run.badLines.length < 1000) run.badLines.push({ line, reason });
}

/** Upserts the batch (creating the collection on the first), then starts a new one. */
async function flush(run: ImportRun): Promise<void> {
  const { db, collection, batch } = run;
  if (batch.length === 0) return;
  if (!db.hasCollection(collection)) {
    await db.createCollection(collection, {
      dimension: batch[0]!.vector.length,
      metric: run.options.metric ?? 'cosine',
    });
    run.created = true;
  }
  try {
    const r = await db.collection(collection).upsert(batch);
    run.lastLsn = r.lsn;
    run.imported += batch.length;
  } catch (e) {
    if (!(e instanceof QuiverError) || e.code !== 'INVALID_ARGUMENT') throw e;
    await upsertOneByOne(run);
  }
  run.batch = [];
  run.batchLines = [];
  reportProgress(run, run.bytesRead);
}

/** Find the offending lines one by one, so the report names them. */
async function upsertOneByOne(run: ImportRun): Promise<void> {
  const { batch, batchLines } = run;
  for (let i = 0; i < batch.length; i++) {
    try {
      const r = await run.db.collection(run.collection).upsert([batch[i]!]);
      run.lastLsn = r.lsn;
      run.imported++;
    } catch (inner) {
      if (!(inner instanceof QuiverError) || inner.code !== 'INVALID_ARGUMENT') throw inner;
      noteBadLine(run, batchLines[i]!, inner.message);
      if (run.options.skipInvalid !== true) {
        run.stopped = true;
        break;
      }
    }
  }
}
