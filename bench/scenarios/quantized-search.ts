/**
 * Quantization scenario: on one dataset, the raw-index ef sweep of Quiver float32, Quiver
 * int8 and one-bit binary (codes walked, beam rescored), usearch f32, i8 and b1 in one run
 * (QPS at recall 0.95 and 0.99, vector memory per point); then the same three Quiver modes
 * through `collection.search` on sealed segments at one ef (recall and QPS), the path users
 * call, product x16 too, and int8, one bit and product again with the float vectors on disk
 * (`onDisk`), with the vector memory (floats + codes held) of each collection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import type { Dataset } from '../datasets.js';
import { quiverB1Peer, quiverInt8Peer, quiverPeer } from '../peers/quiver-peer.js';
import { usearchB1Peer, usearchI8Peer, usearchPeer } from '../peers/usearch-peer.js';
import { searchQps, sweepPoint, upsertDataset } from '../public-api.js';
import type { PeerFactory } from '../peers/ann-peer.js';
import type { AnnSweepOptions, AnnSweepResult, SweepPoint } from './ann-sweep.js';
import { runAnnSweep } from './ann-sweep.js';

export interface QuantizedResult {
  readonly sweep: AnnSweepResult;
  /** Vector bytes per point held for search, by peer (Quiver: floats + codes). */
  readonly vectorBytesPerPoint: Readonly<Record<string, number>>;
  /**
   * collection.search at `ef`: float32, int8 and one-bit collections of the same points, and
   * int8 and one bit with the vectors on disk; `memory` is each one's vector bytes per point
   * held in memory (floats + codes).
   */
  readonly embedded: {
    readonly ef: number;
    readonly modes: Readonly<Partial<Record<EmbeddedMode, SweepPoint>>>;
    readonly memory: Readonly<Partial<Record<EmbeddedMode, number>>>;
  };
}

const EMBEDDED = {
  float: {},
  int8: { quantization: 'scalar' },
  binary: { quantization: 'binary' },
  int8Disk: { quantization: 'scalar', onDisk: true },
  binaryDisk: { quantization: 'binary', onDisk: true },
  pq: { quantization: 'product' },
  pqDisk: { quantization: 'product', onDisk: true },
} as const;
export type EmbeddedMode = keyof typeof EMBEDDED;
export const MODES = Object.keys(EMBEDDED) as EmbeddedMode[];

/**
 * The raw-index peers a set of collection modes calls for: float32 always (every ratio is
 * to it), int8 and one bit (Quiver's and usearch's) when a mode quantizes that way.
 */
function peersFor(modes: readonly EmbeddedMode[]): PeerFactory[] {
  const has = (kind: 'scalar' | 'binary'): boolean =>
    modes.some((m) => 'quantization' in EMBEDDED[m] && EMBEDDED[m].quantization === kind);
  return [
    quiverPeer,
    ...(has('scalar') ? [quiverInt8Peer] : []),
    ...(has('binary') ? [quiverB1Peer] : []),
    usearchPeer,
    ...(has('scalar') ? [usearchI8Peer] : []),
    ...(has('binary') ? [usearchB1Peer] : []),
  ];
}

/**
 * `modes` (all by default) picks the collections built: at a million points each takes
 * minutes, so QUIVER_BENCH_QUANT_MODES=float,int8Disk measures just what a target names.
 * `rawSweep` false (QUIVER_BENCH_QUANT_SWEEP=0) skips the raw indexes, Quiver's and
 * usearch's (four more builds of a million points), and takes the ef where the float32
 * collection itself reaches recall 0.95.
 */
export async function runQuantizedSearch(
  ds: Dataset,
  options: AnnSweepOptions,
  modes: readonly EmbeddedMode[] = MODES,
  rawSweep = true,
): Promise<QuantizedResult> {
  const vectorBytesPerPoint: Record<string, number> = {};
  const sweep = rawSweep
    ? await runAnnSweep(ds, peersFor(modes), options, (peer) => {
        const bytes = peer.vectorBytes?.();
        if (bytes !== undefined) vectorBytesPerPoint[peer.name] = bytes / ds.count;
      })
    : {
        dataset: ds.name,
        metric: ds.metric,
        dim: ds.dim,
        count: ds.count,
        queries: ds.queryCount,
        runs: [],
      };
  // The ef where float Quiver reaches 0.95 on the raw index (64 when it never does).
  const raw = sweep.runs.find((r) => r.name === 'quiver')?.sweep ?? [];
  let ef = raw.find((p) => p.recall >= 0.95)?.ef ?? 64;
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-quant-'));
  try {
    const db = await Quiver.open(dir, { fsync: 'none', queryCacheBytes: 0, autoCompact: false });
    try {
      const run: EmbeddedMode[] = modes.includes('float') ? [...modes] : ['float', ...modes];
      const collections = {} as Record<EmbeddedMode, Collection>;
      for (const mode of run) {
        const c = await db.createCollection(mode, {
          dimension: ds.dim,
          metric: ds.metric,
          ...EMBEDDED[mode],
        });
        await upsertDataset(c, ds);
        collections[mode] = c;
      }
      await db.checkpoint();
      await db.idle();
      if (!rawSweep) ef = await efFor(collections.float, ds, options);
      // Alternating short trials, the best of each: this machine's speed drifts between
      // seconds, and two back-to-back runs would measure the drift as well.
      const points: Partial<Record<EmbeddedMode, SweepPoint>> = {};
      const memory: Partial<Record<EmbeddedMode, number>> = {};
      for (const mode of run) {
        points[mode] = await sweepPoint(collections[mode], ds, options.k, ef, 0.1);
        const m = collections[mode].stats().memory;
        memory[mode] = (m.vectors + m.codes) / ds.count;
      }
      for (let trial = 0; trial < 6; trial++) {
        for (const mode of run) {
          const qps = await searchQps(collections[mode], ds, options.k, ef, options.minSeconds / 2);
          const p = points[mode]!;
          points[mode] = { ...p, qps: Math.max(p.qps, qps) };
        }
      }
      return { sweep, vectorBytesPerPoint, embedded: { ef, modes: points, memory } };
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The smallest ef of the sweep at which `c` reaches recall 0.95 (the largest if none does). */
async function efFor(c: Collection, ds: Dataset, options: AnnSweepOptions): Promise<number> {
  for (const ef of options.efs) {
    if ((await sweepPoint(c, ds, options.k, ef, 0.05)).recall >= 0.95) return ef;
  }
  return options.efs[options.efs.length - 1] ?? 64;
}

const n0 = (x: number | undefined): string => (x === undefined ? '-' : Math.round(x).toString());
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2);

/** Rows per mode: QPS at 0.95/0.99, × the same library's float32, vector bytes per point. */
export function formatQuantized(r: QuantizedResult): string {
  const s = r.sweep;
  const run = (name: string): AnnSweepResult['runs'][number] | undefined =>
    s.runs.find((x) => x.name === name);
  const lines = [`## Quantization: ${s.dataset} (${s.count} × ${s.dim}, ${s.metric})`, ''];
  if (s.runs.length === 0) lines.push('(raw-index sweep skipped: QUIVER_BENCH_QUANT_SWEEP=0)');
  else
    lines.push(
      '| index | QPS @0.95 | × its f32 | QPS @0.99 | × its f32 | best recall | vector B/pt | × its f32 |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
  for (const [name, base] of [
    ['quiver', 'quiver'],
    ['quiver-int8', 'quiver'],
    ['quiver-b1', 'quiver'],
    ['usearch', 'usearch'],
    ['usearch-i8', 'usearch'],
    ['usearch-b1', 'usearch'],
  ] as const) {
    const x = run(name);
    const b = run(base);
    if (x === undefined) continue;
    if (x.unavailable !== undefined) {
      lines.push(`| ${name} | unavailable | | | | | | |`);
      continue;
    }
    const vb = r.vectorBytesPerPoint[name];
    const bestRecall = Math.max(0, ...x.sweep.map((p) => p.recall)).toFixed(4);
    lines.push(
      `| ${name} | ${n0(x.qpsAt095)} | ${ratio(x.qpsAt095, b?.qpsAt095)} | ${n0(x.qpsAt099)} | ${ratio(x.qpsAt099, b?.qpsAt099)} | ${bestRecall} | ${n0(vb)} | ${ratio(vb, r.vectorBytesPerPoint[base])} |`,
    );
  }
  const e = r.embedded;
  lines.push(
    '',
    `collection.search (sealed segments, ef ${e.ef}; vector memory = floats + codes held):`,
    '',
    '| collection | recall | QPS | × float32 | vector B/pt | × float32 |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const mode of MODES) {
    const p = e.modes[mode];
    if (p === undefined) continue;
    lines.push(
      `| ${mode} | ${p.recall.toFixed(4)} | ${n0(p.qps)} | ${ratio(p.qps, e.modes.float?.qps)} | ${n0(e.memory[mode])} | ${ratio(e.memory[mode], e.memory.float)} |`,
    );
  }
  return lines.join('\n');
}
