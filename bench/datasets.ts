/**
 * Benchmark datasets: finds the data directory (../shared/data from the repo root, or
 * $QUIVER_DATA) and reads each set's .fvecs / .ivecs files and meta.json.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MetricName } from '../src/common/types.js';
import { normalizeInPlace } from '../src/kernels/distance-kernel.js';

/** One dataset: base vectors, queries and exact top-100 neighbour ids. */
export interface Dataset {
  readonly name: string;
  readonly metric: MetricName;
  readonly dim: number;
  readonly count: number;
  /** count × dim, row-major; normalised when the metric is cosine. */
  readonly base: Float32Array;
  readonly queryCount: number;
  readonly queries: Float32Array;
  /** Exact neighbours per query, best first (0-based ids into base). */
  readonly groundTruth: Int32Array[];
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The data directory: $QUIVER_DATA, else ../shared/data relative to the repository root. */
export function dataDir(): string {
  const env = process.env['QUIVER_DATA'];
  return env !== undefined && env !== '' ? resolve(env) : resolve(repoRoot, '..', 'shared', 'data');
}

/** Reads .fvecs / .ivecs: per row an int32 LE dimension, then that many 4-byte values. */
export function readVecs(path: string): { dim: number; rows: number; data: ArrayBuffer } {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dim = view.getInt32(0, true);
  const rowBytes = 4 + dim * 4;
  const rows = buf.byteLength / rowBytes;
  if (!Number.isInteger(rows)) throw new Error(`${path}: size is not a multiple of ${rowBytes}`);
  const out = new ArrayBuffer(rows * dim * 4);
  const dst = new Uint8Array(out);
  for (let r = 0; r < rows; r++) {
    if (view.getInt32(r * rowBytes, true) !== dim) throw new Error(`${path}: row ${r} dim differs`);
    dst.set(buf.subarray(r * rowBytes + 4, (r + 1) * rowBytes), r * dim * 4);
  }
  return { dim, rows, data: out };
}

function normalizeRows(data: Float32Array, dim: number): void {
  for (let off = 0; off < data.length; off += dim) normalizeInPlace(data.subarray(off, off + dim));
}

/** Loads every dataset directory under {@link dataDir} that has base/query/groundtruth. */
export function loadDatasets(): Dataset[] {
  const dir = dataDir();
  if (!existsSync(dir)) return [];
  const sets: Dataset[] = [];
  for (const name of readdirSync(dir).sort()) {
    const at = join(dir, name);
    if (!existsSync(join(at, 'base.fvecs')) || !existsSync(join(at, 'meta.json'))) continue;
    const meta = JSON.parse(readFileSync(join(at, 'meta.json'), 'utf8')) as { metric?: string };
    const metric: MetricName =
      meta.metric === 'l2' || meta.metric === 'euclid'
        ? 'euclid'
        : meta.metric === 'ip' || meta.metric === 'dot'
          ? 'dot'
          : 'cosine';
    const base = readVecs(join(at, 'base.fvecs'));
    const query = readVecs(join(at, 'query.fvecs'));
    const gt = readVecs(join(at, 'groundtruth.ivecs'));
    const baseData = new Float32Array(base.data);
    const queryData = new Float32Array(query.data);
    if (metric === 'cosine') {
      normalizeRows(baseData, base.dim);
      normalizeRows(queryData, query.dim);
    }
    const gtAll = new Int32Array(gt.data);
    const groundTruth: Int32Array[] = [];
    for (let q = 0; q < gt.rows; q++)
      groundTruth.push(gtAll.subarray(q * gt.dim, (q + 1) * gt.dim));
    sets.push({
      name,
      metric,
      dim: base.dim,
      count: base.rows,
      base: baseData,
      queryCount: query.rows,
      queries: queryData,
      groundTruth,
    });
  }
  return sets;
}
