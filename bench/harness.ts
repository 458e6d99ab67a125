/**
 * Entry of `npm run bench` (not a test): runs every scenario on every dataset found under
 * ../shared/data (or $QUIVER_DATA) with Quiver and its native peers in this one process,
 * prints tables and JSON, and writes the JSON to .bench-out/bench-results.json.
 *
 * The scale rows generate a clustered 128-d set of $QUIVER_BENCH_SCALE_POINTS points
 * (default 1 000 000; also run at its first tenth) and take tens of minutes at the default;
 * e.g. `QUIVER_BENCH_SCALE_POINTS=200000 QUIVER_BENCH_ONLY=scale npm run bench` for a
 * shorter run of just them. QUIVER_BENCH_ONLY=ann, =storage, =scale, =cluster, =cache or =quant runs one group.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelInfo } from '../src/kernels/kernel-select.js';
import { dataDir, loadDatasets } from './datasets.js';
import { hnswlibPeer } from './peers/hnswlib-peer.js';
import { quiverPeer } from './peers/quiver-peer.js';
import { usearchPeer } from './peers/usearch-peer.js';
import {
  embeddedRatios,
  formatEmbedded,
  formatFiltered,
  formatHttp,
  formatKernels,
  formatScale,
  formatSweep,
  ratios,
} from './report.js';
import type { EmbeddedResult } from './scenarios/embedded-search.js';
import type { HttpResult } from './scenarios/http-search.js';
import { runHttpSearch } from './scenarios/http-search.js';
import { runEmbeddedSearch } from './scenarios/embedded-search.js';
import type { AnnSweepResult } from './scenarios/ann-sweep.js';
import { runAnnSweep } from './scenarios/ann-sweep.js';
import type { FilteredResult } from './scenarios/filtered-search.js';
import { runFilteredSearch } from './scenarios/filtered-search.js';
import { runKernelThroughput } from './scenarios/kernel-throughput.js';
import type { IngestResult } from './scenarios/durable-ingest.js';
import { runDurableIngest } from './scenarios/durable-ingest.js';
import type { FsyncPolicy } from '../src/index.js';
import type { OpenResult } from './scenarios/cold-open.js';
import { runColdOpen } from './scenarios/cold-open.js';
import type { ScaleResult } from './scenarios/scale-search.js';
import { runScaleSearch } from './scenarios/scale-search.js';
import { cachedGroundTruth, generateClustered, syntheticDataset } from './synthetic.js';
import type { ClusterResult } from './scenarios/cluster-replication.js';
import { runClusterReplication } from './scenarios/cluster-replication.js';
import type { QuantizedResult } from './scenarios/quantized-search.js';
import type { EmbeddedMode } from './scenarios/quantized-search.js';
import {
  formatQuantized,
  MODES as QUANT_MODES,
  runQuantizedSearch,
} from './scenarios/quantized-search.js';
import type { CacheResult } from './scenarios/query-cache.js';
import { formatQueryCache, runQueryCache } from './scenarios/query-cache.js';

const EFS = [10, 12, 14, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256];
const minSeconds = Number(process.env['QUIVER_BENCH_SECONDS'] ?? '0.6');
const say = (text: string): void => void process.stdout.write(text + '\n');
/** The raw-index sweeps' settings: the issue's M 16, efConstruction 200, k 10. */
const SWEEP = { m: 16, efConstruction: 200, k: 10, efs: EFS, minSeconds, trials: 3 } as const;

const datasets = loadDatasets();
const info = kernelInfo();
say(`# Quiver benchmark — node ${process.version}, kernel ${info.name}, data ${dataDir()}`);
if ((globalThis as { gc?: unknown }).gc === undefined) {
  say('note: run with node --expose-gc for steadier memory figures');
}
if (datasets.length === 0) say(`note: no datasets found under ${dataDir()}`);

const sweeps: AnnSweepResult[] = [];
const embedded: { result: EmbeddedResult; sweep: AnnSweepResult }[] = [];
const http: HttpResult[] = [];
const filtered: FilteredResult[] = [];
/** QUIVER_BENCH_ONLY=ann, =storage, =scale, =cluster, =cache or =quant runs one group of scenarios. */
const only = process.env['QUIVER_BENCH_ONLY'];
for (const ds of only === undefined || only === 'ann' ? datasets : []) {
  const result = await runAnnSweep(ds, [quiverPeer, hnswlibPeer, usearchPeer], SWEEP);
  sweeps.push(result);
  say('\n' + formatSweep(result));
  // The same set through the public API: the cold loop runs at the ef where the raw
  // index reaches 0.95, so its recall is comparable with the settled rows.
  const raw = result.runs.find((r) => r.name === 'quiver')?.sweep ?? [];
  const coldEf = raw.find((p) => p.recall >= 0.95)?.ef ?? 64;
  const e = await runEmbeddedSearch(ds, {
    m: 16,
    efConstruction: 200,
    k: 10,
    efs: EFS,
    coldEf,
    coldSeconds: Number(process.env['QUIVER_BENCH_COLD_SECONDS'] ?? '5'),
    minSeconds,
  });
  embedded.push({ result: e, sweep: result });
  say('\n' + formatEmbedded(e, result));
  if (ds.dim === 128) {
    const h = await runHttpSearch(
      ds,
      coldEf,
      Number(process.env['QUIVER_BENCH_HTTP_SECONDS'] ?? '5'),
    );
    http.push(h);
    say('\n' + formatHttp(h));
  }
  filtered.push(...runFilteredSearch(ds, 64, minSeconds / 2));
}

// Storage scenarios on the 128-d set: durable ingest and cold open of a large database.
const ingest: IngestResult[] = [];
const opens: OpenResult[] = [];
const sift = datasets.find((d) => d.dim === 128) ?? datasets[0];
if (sift !== undefined && (only === undefined || only === 'storage')) {
  const ingestPoints = Number(process.env['QUIVER_BENCH_INGEST_POINTS'] ?? 100_000);
  // Default seal threshold (indexing runs during the ingest) and a bulk load (sealing
  // after the run: the write path alone; the graph catches up afterwards).
  const configs: [FsyncPolicy, number | undefined][] = [
    ['batch', undefined],
    ['always', undefined],
    ['batch', 1_000_000],
  ];
  for (const [fsync, sealPoints] of configs) {
    ingest.push(
      await runDurableIngest(sift, {
        points: ingestPoints,
        batch: 1000,
        writers: 4,
        fsync,
        ...(sealPoints === undefined ? {} : { sealPoints }),
      }),
    );
  }
  say('\n## Durable ingest (' + sift.name + ')\n');
  say('| fsync | seal at | points | batch × writers | seconds | points/s | fsyncs |');
  say('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of ingest) {
    say(
      `| ${r.fsync} | ${r.sealPoints} | ${r.points} | ${r.batch} × ${r.writers} | ${r.seconds.toFixed(2)} | ${Math.round(r.pointsPerSecond)} | ${r.fsyncs} |`,
    );
  }
  const openPoints = Number(process.env['QUIVER_BENCH_OPEN_POINTS'] ?? 100_000);
  opens.push(await runColdOpen(sift, openPoints));
  say('\n## Cold open (' + sift.name + ')\n');
  say(
    '| points | build s | open s (3 runs) | first search ms | disk MB | bytes/point | segments | WAL records replayed |',
  );
  say('|---:|---:|---|---:|---:|---:|---:|---:|');
  for (const r of opens) {
    say(
      `| ${r.points} | ${r.buildSeconds.toFixed(1)} | ${r.openSeconds.map((x) => x.toFixed(3)).join(' / ')} | ${r.firstSearchMs.toFixed(1)} | ${(r.diskBytes / 1e6).toFixed(1)} | ${Math.round(r.bytesPerPoint)} | ${r.segments} | ${r.recordsReplayed} |`,
    );
  }
}

// Cluster: replication through a real 3-server NATS JetStream cluster on this machine.
const cluster: ClusterResult[] = [];
if (sift !== undefined && (only === undefined || only === 'cluster')) {
  const r = await runClusterReplication(
    sift,
    Number(process.env['QUIVER_BENCH_CLUSTER_POINTS'] ?? 20_000),
    Number(process.env['QUIVER_BENCH_CLUSTER_BATCH'] ?? 100),
  );
  say('\n## Cluster replication (' + sift.name + ', 3 NATS servers, 2 nodes, this machine)\n');
  if (r === undefined) say('skipped: nats-server is not installed (Debian package nats-server)');
  else {
    cluster.push(r);
    say(
      '| points | batch × in flight | shards | acked points/s | standalone points/s | ratio | acked points/s, one replica a shard | other node caught up after last ack | read-your-writes p50 / p99 / max: right after the ingest (nodes sealing) | and once sealed (1 s after a checkpoint) |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
    const ms = (l: { p50: number; p99: number; max: number }): string =>
      `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)} / ${l.max.toFixed(1)} ms`;
    say(
      `| ${r.points} | ${r.batch} × ${r.inFlight} | ${r.shards} | ${Math.round(r.clusterPointsPerSecond)} | ${Math.round(r.standalonePointsPerSecond)} | ${(r.clusterPointsPerSecond / r.standalonePointsPerSecond).toFixed(2)} | ${Math.round(r.spreadPointsPerSecond)} | ${r.catchUpSeconds.toFixed(2)} s | ${ms(r.readYourWritesMs)} | ${ms(r.readYourWritesSteadyMs)} |`,
    );
    say(
      `\nA node starting with an empty directory has every point after ${r.freshNodeSeconds.replay.toFixed(2)} s replaying the streams, ${r.freshNodeSeconds.fromPeer.toFixed(2)} s copying a peer's points and reading the rest.`,
    );
    say('\n| search (k = 10, one at a time) | QPS | × local | recall@10 |');
    say('|---|---:|---:|---:|');
    for (const [label, f] of [
      ['collection.search on a node (no cluster layer)', r.search.local],
      ['cluster reads, every node holds every shard', r.search.replicated],
      ['cluster reads, one shard per node (fan-out over NATS)', r.search.sharded],
      ['the same once both nodes are idle (graphs built)', r.search.shardedSettled],
    ] as const) {
      say(
        `| ${label} | ${Math.round(f.qps)} | ${(f.qps / r.search.local.qps).toFixed(2)} | ${f.recall.toFixed(3)} |`,
      );
    }
  }
}

// Quantization: Quiver float32 and int8 beside usearch f32 and i8, raw index and public API.
const quantized: QuantizedResult[] = [];
if (only === undefined || only === 'quant') {
  // QUIVER_BENCH_QUANT_SYNTHETIC=20000x1024 runs the group on a generated clustered set of
  // that size instead: the shared sets fit in the CPU caches, where codes save little time.
  const extra = process.env['QUIVER_BENCH_QUANT_SYNTHETIC'];
  const sets = extra === undefined ? [...datasets] : [];
  if (extra !== undefined) {
    const [points, dim] = extra.split('x').map(Number);
    const spec = { points: points!, dim: dim!, queries: 200, clusters: 64, seed: 21, k: 10 };
    const progress = (line: string): void => say(`  … ${line}`);
    const vectors = generateClustered(spec, progress);
    const [truth] = cachedGroundTruth(vectors, spec, [spec.points], progress);
    sets.push(syntheticDataset(vectors, spec, spec.points, truth!));
  }
  // QUIVER_BENCH_QUANT_MODES=float,int8Disk builds just those collections (and the raw
  // indexes they call for): at 1M points each one takes minutes. QUIVER_BENCH_QUANT_SWEEP=0
  // skips the raw indexes (Quiver's and usearch's), measuring collection.search alone.
  const listed = process.env['QUIVER_BENCH_QUANT_MODES']?.split(',');
  const unknown = listed?.filter((m) => !(QUANT_MODES as string[]).includes(m)) ?? [];
  if (unknown.length > 0)
    throw new Error(
      `QUIVER_BENCH_QUANT_MODES: unknown ${unknown.join(', ')}; modes: ${QUANT_MODES.join(', ')}`,
    );
  const modes = (listed ?? QUANT_MODES) as EmbeddedMode[];
  for (const ds of sets) {
    const r = await runQuantizedSearch(
      ds,
      SWEEP,
      modes,
      process.env['QUIVER_BENCH_QUANT_SWEEP'] !== '0',
    );
    quantized.push(r);
    say('\n' + formatQuantized(r));
  }
}

// Caches: the query-result cache against the index it stands in front of.
const caches: CacheResult[] = [];
if (only === undefined || only === 'cache') {
  for (const ds of datasets) caches.push(await runQueryCache(ds, 64, minSeconds));
  if (caches.length > 0)
    say('\n## Query cache (collection.search, k = 10)\n\n' + formatQueryCache(caches));
}

// Scale: a generated clustered set at its full size and its first tenth, through the
// public API against hnswlib-node (ground truth cached under the temp dir between runs).
const scale: ScaleResult[] = [];
if (only === undefined || only === 'scale') {
  const points = Number(process.env['QUIVER_BENCH_SCALE_POINTS'] ?? 1_000_000);
  const spec = { points, dim: 128, queries: 1000, clusters: 256, seed: 12, k: 100 };
  const sizes = [Math.round(points / 10), points];
  const progress = (line: string): void => say(`  … ${line}`);
  say(`\n# Scale: ${sizes.join(' and ')} generated clustered 128-d points`);
  const vectors = generateClustered(spec, progress);
  const truth = cachedGroundTruth(vectors, spec, sizes, progress);
  for (const [i, size] of sizes.entries()) {
    const ds = syntheticDataset(vectors, spec, size, truth[i]!);
    const r = await runScaleSearch(
      ds,
      { m: 16, efConstruction: 200, k: 10, efs: EFS, minSeconds },
      progress,
    );
    scale.push(r);
    say('\n' + formatScale(r));
  }
}

const dims = [...new Set([...datasets.map((d) => d.dim), 128, 1024])].sort((a, b) => a - b);
const kernels =
  only === undefined || only === 'ann' || only === 'storage'
    ? runKernelThroughput(dims, minSeconds / 2)
    : [];
if (kernels.length > 0) say('\n## Distance kernels\n\n' + formatKernels(kernels));
if (filtered.length > 0)
  say('\n## Filtered search (quiver, allow mask)\n\n' + formatFiltered(filtered));

const json = {
  when: new Date().toISOString(),
  node: process.version,
  kernel: info,
  params: { m: 16, efConstruction: 200, k: 10, threads: 1 },
  datasets: sweeps,
  ratios: sweeps.flatMap(ratios),
  embedded: embedded.map(({ result, sweep }) => ({
    ...result,
    ratios: embeddedRatios(result, sweep),
  })),
  http,
  kernels,
  filtered,
  ingest,
  opens,
  scale,
  cluster,
  caches,
  quantized,
};
const outDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '.bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, 'bench-results.json');
writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
const summary = {
  kernel: info.name,
  datasets: sweeps.map((d) => ({
    dataset: d.dataset,
    libraries: d.runs.map((r) => ({
      name: r.name,
      ...(r.unavailable === undefined
        ? {
            buildSeconds: r.buildSeconds,
            rssBytesPerPoint: r.rssBytesPerPoint,
            accountedBytesPerPoint: r.accountedBytesPerPoint,
            qpsAt095: r.qpsAt095,
            qpsAt099: r.qpsAt099,
          }
        : { unavailable: r.unavailable }),
    })),
  })),
  ratios: json.ratios,
  embeddedRatios: json.embedded.map((e) => ({ dataset: e.dataset, ratios: e.ratios })),
  scaleRatios: scale.map((s) => ({ dataset: s.dataset, points: s.points, ratios: s.ratios })),
};
say('\n## Summary (JSON; the full results with every sweep point are in the file)\n');
say(JSON.stringify(summary, null, 2));
say(`\nfull JSON: ${file}`);
