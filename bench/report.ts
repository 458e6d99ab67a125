/**
 * Benchmark printing: the Quiver-to-best-peer ratios and the plain-text tables `npm run
 * bench` prints. It reads the scenarios' results; no scenario imports it.
 */
import type { AnnSweepResult } from './scenarios/ann-sweep.js';
import type { EmbeddedResult } from './scenarios/embedded-search.js';
import type { FilteredResult } from './scenarios/filtered-search.js';
import type { HttpResult } from './scenarios/http-search.js';
import type { KernelThroughput } from './scenarios/kernel-throughput.js';
import type { ScaleResult } from './scenarios/scale-search.js';

/** Quiver's QPS over the best available peer's at one target, per dataset. */
export interface RatioRow {
  readonly dataset: string;
  readonly target: number;
  readonly quiver?: number;
  readonly bestPeer?: string;
  readonly bestPeerQps?: number;
  readonly ratio?: number;
}

/** Ratios at 0.95 and 0.99 for one sweep result. */
export function ratios(result: AnnSweepResult): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const target of [0.95, 0.99]) {
    const key = target === 0.95 ? 'qpsAt095' : 'qpsAt099';
    const quiver = result.runs.find((r) => r.name === 'quiver')?.[key];
    rows.push(ratioRow(result, target, quiver));
  }
  return rows;
}

/**
 * Ratios of the public embedded path (`collection.search`, settled) to the best native
 * peer of the same dataset's raw-index sweep.
 */
export function embeddedRatios(result: EmbeddedResult, sweep: AnnSweepResult): RatioRow[] {
  return [0.95, 0.99].map((target) =>
    ratioRow(sweep, target, target === 0.95 ? result.qpsAt095 : result.qpsAt099),
  );
}

/** `quiver` QPS at `target` against the best non-Quiver run of `result`. */
function ratioRow(result: AnnSweepResult, target: number, quiver: number | undefined): RatioRow {
  const key = target === 0.95 ? 'qpsAt095' : 'qpsAt099';
  let bestPeer: string | undefined;
  let bestPeerQps: number | undefined;
  for (const run of result.runs) {
    const q = run[key];
    if (run.name === 'quiver' || q === undefined) continue;
    if (bestPeerQps === undefined || q > bestPeerQps) {
      bestPeerQps = q;
      bestPeer = run.name;
    }
  }
  return {
    dataset: result.dataset,
    target,
    ...(quiver === undefined ? {} : { quiver }),
    ...(bestPeer === undefined ? {} : { bestPeer }),
    ...(bestPeerQps === undefined ? {} : { bestPeerQps }),
    ...(quiver !== undefined && bestPeerQps !== undefined ? { ratio: quiver / bestPeerQps } : {}),
  };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    '| ' + cells.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
  return [
    line(head),
    '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|',
    ...rows.map(line),
  ].join('\n');
}

const n0 = (x: number | undefined): string => (x === undefined ? '-' : Math.round(x).toString());
const n2 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(2));
const n3 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(3));
const n4 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(4));
const mega = (x: number | undefined): string =>
  x === undefined ? '-' : (x / 1e6).toFixed(1) + ' M';

/** The build / memory / QPS-at-recall table of one dataset, the sweep, and the ratios. */
export function formatSweep(result: AnnSweepResult): string {
  const parts: string[] = [
    `## ${result.dataset} (${result.count} × ${result.dim}, ${result.metric}, ${result.queries} queries)`,
  ];
  parts.push(
    table(
      ['library', 'build s', 'build CPU s', 'RSS B/pt', 'accounted B/pt', 'QPS @0.95', 'QPS @0.99'],
      result.runs.map((r) =>
        r.unavailable !== undefined
          ? [r.name, 'unavailable', '-', '-', '-', '-', '-']
          : [
              r.name,
              n3(r.buildSeconds),
              n3(r.buildCpuSeconds),
              n0(r.rssBytesPerPoint),
              n0(r.accountedBytesPerPoint),
              n0(r.qpsAt095),
              n0(r.qpsAt099),
            ],
      ),
    ),
  );
  const live = result.runs.filter((r) => r.unavailable === undefined);
  const efs = live[0]?.sweep.map((p) => p.ef) ?? [];
  parts.push(
    table(
      ['ef', ...live.flatMap((r) => [`${r.name} recall`, `${r.name} QPS`])],
      efs.map((ef, i) => [
        String(ef),
        ...live.flatMap((r) => [n4(r.sweep[i]?.recall), n0(r.sweep[i]?.qps)]),
      ]),
    ),
  );
  parts.push(
    table(
      ['target recall', 'quiver QPS', 'best peer', 'peer QPS', 'ratio'],
      ratios(result).map((r) => [
        r.target.toFixed(2),
        n0(r.quiver),
        r.bestPeer ?? '-',
        n0(r.bestPeerQps),
        n2(r.ratio),
      ]),
    ),
  );
  for (const r of result.runs)
    if (r.unavailable !== undefined) parts.push(`note: ${r.unavailable}`);
  return parts.join('\n\n');
}

/**
 * The embedded path on one dataset: the cold loop's windows (QPS against half the best
 * peer's settled QPS at 0.95, the cold target), the settled sweep, and its ratios.
 */
export function formatEmbedded(result: EmbeddedResult, sweep: AnnSweepResult): string {
  const rows = embeddedRatios(result, sweep);
  const half = (rows[0]?.bestPeerQps ?? 0) / 2;
  const reached = result.cold.find((w) => w.qps >= half && w.recall >= 0.95);
  const parts = [
    `## ${result.dataset}: collection.search (embedded, ${result.points} points, ingest ${n2(result.ingestSeconds)} s)`,
    `cold loop at ef ${result.coldEf} right after the last upsert: ` +
      (reached === undefined
        ? `never reached half the best peer's settled QPS (${n0(half)}) at recall ≥ 0.95`
        : `reached half the best peer's settled QPS (${n0(half)}) at recall ≥ 0.95 after ${n2(reached.at)} s`),
    table(
      ['until s', 'searches', 'QPS', 'recall', 'slowest ms'],
      result.cold.map((w) => [n2(w.at), String(w.searches), n0(w.qps), n4(w.recall), n2(w.maxMs)]),
    ),
    `settled (checkpoint + idle took ${n2(result.settleSeconds)} s):`,
    table(
      ['ef', 'recall', 'QPS'],
      result.settled.map((p) => [String(p.ef), n4(p.recall), n0(p.qps)]),
    ),
    table(
      ['target recall', 'collection.search QPS', 'best peer', 'peer QPS', 'ratio'],
      rows.map((r) => [
        r.target.toFixed(2),
        n0(r.quiver),
        r.bestPeer ?? '-',
        n0(r.bestPeerQps),
        n2(r.ratio),
      ]),
    ),
  ];
  return parts.join('\n\n');
}

/** HTTP search through `quiver serve` beside in-process search of the same data. */
export function formatHttp(r: HttpResult): string {
  return [
    `## ${r.dataset}: HTTP POST /points/search through quiver serve (ef ${r.ef}, wall-clock QPS)`,
    table(
      ['in-process QPS', 'HTTP c=1 QPS', 'HTTP c=16 QPS', 'c=16 p99 ms', 'c=16 / in-process'],
      [[n0(r.inProcessQps), n0(r.http1Qps), n0(r.http16Qps), n0(r.http16P99Ms), n2(r.ratio16)]],
    ),
  ].join('\n\n');
}

/** The kernel throughput table. */
export function formatKernels(rows: readonly KernelThroughput[]): string {
  return table(
    ['dim', 'metric', 'JS scalar evals/s', 'WASM per call evals/s', 'WASM loop evals/s', 'kernel'],
    rows.map((r) => [
      String(r.dim),
      r.metric,
      mega(r.jsPerSec),
      mega(r.wasmPerCallPerSec),
      mega(r.wasmLoopPerSec),
      r.kernel,
    ]),
  );
}

/** The filtered-search table. */
export function formatFiltered(rows: readonly FilteredResult[]): string {
  return table(
    ['dataset', 'selectivity', 'admitted', 'ef', 'recall@10', 'QPS'],
    rows.map((r) => [
      r.dataset,
      `${(r.selectivity * 100).toFixed(0)} %`,
      String(r.admitted),
      String(r.ef),
      n4(r.recall),
      n0(r.qps),
    ]),
  );
}

const mib = (x: number | undefined): string =>
  x === undefined ? '-' : (x / 1048576).toFixed(1) + ' MiB';

/**
 * One size of the scale scenario: the headline ratios to hnswlib-node, then both
 * libraries' build, memory, disk and QPS-at-recall figures, Quiver's open, and the sweeps.
 */
export function formatScale(r: ScaleResult): string {
  const q = r.quiver;
  const h = r.hnswlib;
  const hRss = h.rssBytesPerPoint === undefined ? undefined : h.rssBytesPerPoint * r.points;
  const parts = [
    `## ${r.dataset}: collection.search at scale (${r.points} × ${r.dim}, euclid, ${r.queries} queries) vs hnswlib-node`,
    table(
      ['quiver / hnswlib-node', 'QPS @0.95', 'QPS @0.99', 'RSS growth'],
      [['ratio', n2(r.ratios.qpsAt095), n2(r.ratios.qpsAt099), n2(r.ratios.rss)]],
    ),
    table(
      [
        'library',
        'ingest s',
        'build s',
        'RSS growth',
        'RSS B/pt',
        'accounted B/pt',
        'disk B/pt',
        'QPS @0.95',
        'QPS @0.99',
      ],
      [
        [
          'quiver',
          n2(q.ingestSeconds),
          n2(q.ingestSeconds + q.settleSeconds + q.compactSeconds),
          mib(q.rssBytes),
          n0(q.rssBytes / r.points),
          n0(q.memoryBytes / r.points),
          n0(q.diskBytes / r.points),
          n0(q.qpsAt095),
          n0(q.qpsAt099),
        ],
        h.unavailable !== undefined
          ? ['hnswlib-node', 'unavailable', '-', '-', '-', '-', '-', '-', '-']
          : [
              'hnswlib-node',
              '-',
              n2(h.buildSeconds),
              mib(hRss),
              n0(h.rssBytesPerPoint),
              n0(h.accountedBytesPerPoint),
              '-',
              n0(h.qpsAt095),
              n0(h.qpsAt099),
            ],
      ],
    ),
    `quiver: ${q.segmentsBeforeCompaction} segments after idle(), compacted in ${n2(q.compactSeconds)} s into ${q.segments}, ${q.segmentsSearched} searched per query; ` +
      `open ${n3(q.openSeconds)} s (${q.segmentsLoaded} segments loaded, ${q.recordsReplayed} WAL records replayed), ` +
      `first search ${n2(q.firstSearchMs)} ms scanning ${q.waitingAfterOpen} vectors waiting for a graph` +
      (q.waitingAfterOpen === 0 ? ' (no graph rebuilt)' : ''),
    table(
      ['ef', 'quiver recall', 'quiver QPS', 'hnswlib recall', 'hnswlib QPS'],
      q.sweep.map((p, i) => [
        String(p.ef),
        n4(p.recall),
        n0(p.qps),
        n4(h.sweep[i]?.recall),
        n0(h.sweep[i]?.qps),
      ]),
    ),
  ];
  if (h.unavailable !== undefined) parts.push(`note: ${h.unavailable}`);
  return parts.join('\n\n');
}
