/**
 * Scenario "search at target recall": builds Quiver and each native peer on one dataset in
 * this process (build seconds, memory per point), then sweeps ef measuring recall@k and
 * single-thread QPS, and interpolates QPS at recall 0.95 and 0.99.
 */
import type { Dataset } from '../datasets.js';
import type { AnnPeer, PeerFactory } from '../peers/ann-peer.js';

/** One point of an ef sweep. */
export interface SweepPoint {
  readonly ef: number;
  readonly recall: number;
  readonly qps: number;
}

/**
 * QPS at recall `target`: the best of every swept point reaching it and of the linear
 * interpolation between consecutive points (by ef) whose recalls bracket it; undefined
 * when no point reaches the target.
 */
export function qpsAtRecall(sweep: readonly SweepPoint[], target: number): number | undefined {
  let best: number | undefined;
  const take = (q: number): void => {
    if (best === undefined || q > best) best = q;
  };
  for (let i = 0; i < sweep.length; i++) {
    const b = sweep[i]!;
    if (b.recall < target) continue;
    take(b.qps);
    const a = sweep[i - 1];
    if (a !== undefined && a.recall < target) {
      const t = (target - a.recall) / (b.recall - a.recall);
      take(a.qps + t * (b.qps - a.qps));
    }
  }
  return best;
}

/** What one library did on one dataset. */
export interface PeerRun {
  readonly name: string;
  /** Why it did not run, when it did not. */
  readonly unavailable?: string;
  /** Wall-clock build time. */
  readonly buildSeconds?: number;
  /** Process CPU time of the build (steadier on a shared machine). */
  readonly buildCpuSeconds?: number;
  /** Resident memory growth over the build, per point. */
  readonly rssBytesPerPoint?: number;
  /** Bytes the library accounts for (Quiver: its WebAssembly memory), per point. */
  readonly accountedBytesPerPoint?: number;
  readonly sweep: SweepPoint[];
  readonly qpsAt095?: number;
  readonly qpsAt099?: number;
}

/** The scenario's result on one dataset. */
export interface AnnSweepResult {
  readonly dataset: string;
  readonly metric: string;
  readonly dim: number;
  readonly count: number;
  readonly queries: number;
  readonly runs: PeerRun[];
}

/** Options of {@link runAnnSweep}; defaults follow the issue (M 16, efC 200, k 10). */
export interface AnnSweepOptions {
  readonly m: number;
  readonly efConstruction: number;
  readonly k: number;
  readonly efs: readonly number[];
  /** Seconds of timed queries per ef and peer, split over `trials`. */
  readonly minSeconds: number;
  /** Timed trials per ef and peer; the best counts. */
  readonly trials: number;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    g();
  }
}

function recallOf(peer: AnnPeer, ds: Dataset, k: number): number {
  let hits = 0;
  for (let q = 0; q < ds.queryCount; q++) {
    const truth = ds.groundTruth[q]!.subarray(0, k);
    const got = peer.search(q, k);
    for (let i = 0; i < got.length; i++) if (truth.includes(got[i]!)) hits++;
  }
  return hits / (ds.queryCount * k);
}

/**
 * Queries per second of one timed trial: queries answered over the process CPU time they
 * took (user + system). CPU time, not wall time, so other processes on a shared machine
 * do not count against whichever library happened to be running; native peers run on
 * this same thread, so their work is counted the same way.
 */
function qpsOf(peer: AnnPeer, ds: Dataset, k: number, minSeconds: number): number {
  let done = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  do {
    for (let q = 0; q < ds.queryCount; q++) peer.search(q, k);
    done += ds.queryCount;
  } while ((performance.now() - t0) / 1000 < minSeconds);
  const cpu = process.cpuUsage(c0);
  return done / ((cpu.user + cpu.system) / 1e6);
}

/** Runs the scenario for every peer on `ds`; peers that cannot load are reported, not fatal. */
export async function runAnnSweep(
  ds: Dataset,
  factories: readonly PeerFactory[],
  options: AnnSweepOptions,
  /** Sees each built peer once its sweep is done, before it is disposed. */
  inspect?: (peer: AnnPeer) => void,
): Promise<AnnSweepResult> {
  const built: Array<{ peer: AnnPeer; build: number; buildCpu: number; rss: number }> = [];
  const runs: PeerRun[] = [];
  for (const make of factories) {
    const peer = await make();
    if (typeof peer === 'string') {
      runs.push({ name: peer.split(' ')[0] ?? peer, unavailable: peer, sweep: [] });
      continue;
    }
    peer.prepare(ds);
    gc();
    const rss0 = process.memoryUsage().rss;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    peer.build({ m: options.m, efConstruction: options.efConstruction });
    const build = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    gc();
    built.push({
      peer,
      build,
      buildCpu: (cpu.user + cpu.system) / 1e6,
      rss: process.memoryUsage().rss - rss0,
    });
  }
  // Interleaved by ef, best of `trials` short trials per peer: load from other processes
  // then affects every library alike instead of whichever was running.
  const sweeps = built.map(() => [] as SweepPoint[]);
  for (const ef of options.efs) {
    const recalls = built.map(({ peer }) => {
      peer.setEf(ef);
      return recallOf(peer, ds, options.k);
    });
    const best = built.map(() => 0);
    for (let t = 0; t < options.trials; t++) {
      built.forEach(({ peer }, i) => {
        best[i] = Math.max(
          best[i]!,
          qpsOf(peer, ds, options.k, options.minSeconds / options.trials),
        );
      });
    }
    built.forEach((_, i) => sweeps[i]!.push({ ef, recall: recalls[i]!, qps: best[i]! }));
  }
  for (const [i, { peer, build, buildCpu, rss }] of built.entries()) {
    const sweep = sweeps[i]!;
    const accounted = peer.accountedBytes();
    const run: PeerRun = {
      name: peer.name,
      buildSeconds: build,
      buildCpuSeconds: buildCpu,
      rssBytesPerPoint: Math.max(0, Math.round(rss / ds.count)),
      ...(accounted === undefined
        ? {}
        : { accountedBytesPerPoint: Math.round(accounted / ds.count) }),
      sweep,
      ...optional('qpsAt095', qpsAtRecall(sweep, 0.95)),
      ...optional('qpsAt099', qpsAtRecall(sweep, 0.99)),
    };
    runs.push(run);
    inspect?.(peer);
    peer.dispose();
  }
  runs.sort((a, b) => order(a.name) - order(b.name));
  return {
    dataset: ds.name,
    metric: ds.metric,
    dim: ds.dim,
    count: ds.count,
    queries: ds.queryCount,
    runs,
  };
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

function order(name: string): number {
  return name === 'quiver' ? 0 : 1;
}
