/**
 * Keeps a collection in step with a folder of documents. Every chunk of every matching
 * file becomes one point whose id is derived from (path, chunk hash, occurrence), so the
 * collection itself says what is embedded: a run embeds only the chunks whose id is not
 * there, deletes the points whose id no source chunk gives any more, and leaves the rest
 * untouched. A second run over an unchanged folder embeds and writes nothing, and a run
 * killed at any point resumes by running again (what was written stays written; a batch
 * in flight is embedded again). A checkpoint file records progress, tokens and cost.
 */
import { resolve } from 'node:path';
import { isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { JsonObject, PointId } from '../common/types.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { checkCollectionName } from '../engine/validation.js';
import { checkChunkOptions, estimateTokens } from './chunker.js';
import type { Embedder } from './embedder.js';
import type { FilePlan, PlannedChunk, SkipReason, SourceOptions } from './source-plan.js';
import { planSource } from './source-plan.js';
import type { SyncCheckpoint } from './sync-checkpoint.js';
import { readCheckpoint, writeCheckpoint } from './sync-checkpoint.js';
import type { SyncCollection, SyncStore } from './sync-store.js';

export interface SyncOptions extends SourceOptions {
  /** Created (cosine, the embedder's dimension) when missing. */
  readonly collection: string;
  readonly embedder: Embedder;
  /** Texts per embedding request. Default 64. */
  readonly batchSize?: number;
  /** Embedding requests in flight at once. Default 2. */
  readonly concurrency?: number;
  /** At most this many requests started per minute. Default: no limit. */
  readonly requestsPerMinute?: number;
  /** Price of 1 000 tokens, in your currency. Default 0. */
  readonly pricePer1kTokens?: number;
  /** Stop before a batch would take the run's cost past this. */
  readonly maxCost?: number;
  /**
   * Plan only: what would be embedded and deleted (the report's `plan`, by file), and the
   * estimated cost.
   */
  readonly dryRun?: boolean;
  /** Let a folder without any matching file delete every synced point. */
  readonly allowEmptySource?: boolean;
  /**
   * How error messages name the options: the CLI passes its flags, the server its body
   * fields. Default: the names of these options.
   */
  readonly optionNames?: SyncOptionNames;
  readonly onProgress?: (p: SyncProgress) => void;
  readonly fileSystem?: FileSystem;
  /**
   * Stops the run between batches once aborted (a server job cancelled): what was written
   * stays, with its checkpoint, and a later run goes on from there.
   */
  readonly signal?: AbortSignal;
}

/** The names a surface gives the options an error message advises. */
export interface SyncOptionNames {
  /** e.g. `--allow-empty-source`, `"allow_empty_source": true`. */
  readonly allowEmptySource: string;
  /** e.g. `--include`, `include`. */
  readonly include: string;
}

const LIBRARY_OPTION_NAMES: SyncOptionNames = {
  allowEmptySource: 'allowEmptySource: true',
  include: 'include',
};

/** Entries of each list of a dry run's plan; the rest are counted, not listed. */
export const PLAN_LIST_LIMIT = 1000;

/** A file a dry run would embed chunks of. */
export interface PlannedEmbed {
  readonly path: string;
  /** Chunks to embed, and of how many the file has now. */
  readonly chunks: number;
  readonly of: number;
  /** new: nothing of the file is in the collection yet; changed: some of it is. */
  readonly change: 'new' | 'changed';
  readonly estimatedTokens: number;
}

/** A file whose points a dry run would delete. */
export interface PlannedDelete {
  readonly path: string;
  readonly points: number;
  /** gone: the file is gone or now skipped; changed: chunks it no longer has. */
  readonly why: 'gone' | 'changed';
}

/** What a dry run would do, file by file (the first PLAN_LIST_LIMIT of each list). */
export interface SyncPlan {
  readonly embed: readonly PlannedEmbed[];
  readonly delete: readonly PlannedDelete[];
  /** Files of each list in all, listed or not. */
  readonly embedFiles: number;
  readonly deleteFiles: number;
  /** True when a list holds fewer entries than its total. */
  readonly truncated: boolean;
}

export interface SyncProgress {
  readonly filesDone: number;
  readonly filesToEmbed: number;
  readonly chunksEmbedded: number;
  readonly chunksToEmbed: number;
  readonly tokens: number;
  readonly cost: number;
  readonly retries: number;
}

export interface SyncReport {
  readonly collection: string;
  readonly source: string;
  readonly dryRun: boolean;
  readonly embedder: {
    readonly provider: string;
    readonly model: string;
    readonly dimension?: number;
  };
  readonly files: {
    readonly seen: number;
    readonly changed: number;
    readonly unchanged: number;
    readonly removed: number;
    readonly skipped: number;
  };
  readonly chunks: {
    readonly total: number;
    readonly embedded: number;
    readonly toEmbed: number;
    readonly unchanged: number;
    readonly deleted: number;
    readonly toDelete: number;
    /** Unchanged chunks whose position, headings or front matter moved: payload updated. */
    readonly refreshed: number;
  };
  readonly skipped: readonly { readonly path: string; readonly reason: SkipReason }[];
  readonly tokens: number;
  /** Estimated tokens of what is left to embed (the whole plan on a dry run). */
  readonly estimatedTokens: number;
  readonly cost: number;
  readonly estimatedCost: number;
  readonly requests: number;
  readonly retries: number;
  /** With `dryRun`: what the run would embed and delete, by file. */
  readonly plan?: SyncPlan;
  /** Set when the run stopped before the end. */
  readonly stopped?: { readonly reason: 'max-cost' | 'cancelled'; readonly message: string };
  /** The previous run's checkpoint: none, complete, interrupted (resumed) or damaged. */
  readonly previousRun: 'none' | 'complete' | 'interrupted' | 'damaged';
  readonly durationMs: number;
}

/** Runs one sync of `options.source` into `options.collection` of `db`. */
export async function syncDocuments(db: SyncStore, options: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const fs = options.fileSystem ?? new NodeFileSystem();
  // The name becomes the checkpoint's file name: checked before any path is made of it.
  checkCollectionName(options.collection);
  checkChunkOptions(options.chunk ?? {});
  // Absolute, so that a doctor run from another working folder finds the same source.
  const source = resolve(options.source);
  options = { ...options, source };
  const previous = await readCheckpoint(fs, db.path, options.collection);
  const { plans, skipped } = await planSource(fs, options);
  const existing = db.hasCollection(options.collection)
    ? checkedCollection(db, options)
    : undefined;
  const have = new Set<PointId>(existing === undefined ? [] : await existing.ids());
  const wanted = new Set(plans.flatMap((f) => f.chunks.map((c) => c.id)));
  const stale = await stalePoints(existing, have, wanted, plans, skipped, options);
  const changed = plans.filter((f) => f.chunks.some((c) => !have.has(c.id)));
  const toEmbed = changed.flatMap((f) => f.chunks.filter((c) => !have.has(c.id)));
  const removed = stale.removedFiles;
  const estimatedTokens = toEmbed.reduce((n, c) => n + c.chunk.tokens, 0);
  const price = options.pricePer1kTokens ?? 0;
  const run = new SyncRun(db, options, existing, toEmbed.length, changed.length, stale.bySource);
  const base = {
    collection: options.collection,
    source: options.source,
    dryRun: options.dryRun === true,
    skipped,
    estimatedTokens,
    estimatedCost: (estimatedTokens / 1000) * price,
    previousRun: previous,
  };
  const totals = (
    deleted: number,
    refreshed = 0,
  ): Omit<SyncReport, keyof typeof base | 'durationMs' | 'stopped'> => ({
    embedder: embedderInfo(options.embedder),
    files: {
      seen: plans.length + skipped.length,
      changed: changed.length,
      unchanged: plans.length - changed.length,
      removed,
      skipped: skipped.length,
    },
    chunks: {
      total: wanted.size,
      embedded: run.embedded,
      toEmbed: toEmbed.length,
      unchanged: wanted.size - toEmbed.length,
      deleted,
      toDelete: stale.ids.length,
      refreshed,
    },
    tokens: run.tokens,
    cost: run.cost,
    requests: run.requests,
    retries: options.embedder.retries ?? 0,
  });
  if (options.dryRun === true) {
    const plan = planOf(changed, have, stale);
    return { ...base, ...totals(0), plan, durationMs: Date.now() - started };
  }
  if (toEmbed.length === 0 && stale.ids.length === 0 && previous === 'complete') {
    // In step already: nothing to embed, delete or record; only edited front matter or
    // moved chunks may need their payload updated (written only where it differs).
    const refreshed = existing === undefined ? 0 : await refreshPayloads(existing, plans, have);
    return { ...base, ...totals(0, refreshed), durationMs: Date.now() - started };
  }
  const checkpoint = (complete: boolean): Promise<void> =>
    writeCheckpoint(fs, db.path, checkpointOf(options, run, complete, started));
  await checkpoint(false);
  const { stopped, refreshed } = await whileKept(options, run, async () => {
    const stopped = await run.embedFiles(changed, have, checkpoint);
    // A changed file's old chunks went in the write of its new ones; the rest (files gone,
    // chunks cut from a file) go once every file is written: a stopped run keeps them.
    if (stopped === undefined) await run.deleteStale(stale.ids);
    const refreshed =
      stopped === undefined && existing !== undefined
        ? await refreshPayloads(existing, plans, have)
        : 0;
    return { stopped, refreshed };
  });
  const deleted = run.deleted;
  await checkpoint(stopped === undefined);
  return {
    ...base,
    ...totals(deleted, refreshed),
    ...(stopped === undefined ? {} : { stopped }),
    durationMs: Date.now() - started,
  };
}

/**
 * Runs the writes of a sync; when the collection is dropped meanwhile (by another caller
 * of this database), the write that meets the closed handle stops the run with an error
 * that says so, instead of the handle's own advice: nothing more is written, and running
 * the sync again builds the collection anew.
 */
async function whileKept<T>(o: SyncOptions, run: SyncRun, writes: () => Promise<T>): Promise<T> {
  try {
    return await writes();
  } catch (e) {
    // The database's own CLOSED names its file; a dropped collection's names the collection.
    if (!isQuiverError(e, 'CLOSED') || e.details.collection !== o.collection) throw e;
    throw new QuiverError(
      'CLOSED',
      `Collection "${o.collection}" was dropped while ${o.source} was synced into it (${run.embedded} chunks embedded by then); nothing more was written. Run the sync again to build it anew.`,
      { collection: o.collection },
    );
  }
}

/** A dry run's plan: the files to embed (new or changed) and those to delete points of. */
function planOf(
  changed: readonly FilePlan[],
  have: ReadonlySet<PointId>,
  stale: { gone: ReadonlyMap<string, number>; bySource: ReadonlyMap<string, readonly PointId[]> },
): SyncPlan {
  const embed = changed.map((f): PlannedEmbed => {
    const fresh = f.chunks.filter((c) => !have.has(c.id));
    const old = fresh.length < f.chunks.length || stale.bySource.has(f.path);
    return {
      path: f.path,
      chunks: fresh.length,
      of: f.chunks.length,
      change: old ? 'changed' : 'new',
      estimatedTokens: fresh.reduce((n, c) => n + c.chunk.tokens, 0),
    };
  });
  const deletes: PlannedDelete[] = [
    ...[...stale.gone].map(([path, points]): PlannedDelete => ({ path, points, why: 'gone' })),
    ...[...stale.bySource].map(([path, ids]): PlannedDelete => ({
      path,
      points: ids.length,
      why: 'changed',
    })),
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    embed: embed.slice(0, PLAN_LIST_LIMIT),
    delete: deletes.slice(0, PLAN_LIST_LIMIT),
    embedFiles: embed.length,
    deleteFiles: deletes.length,
    truncated: embed.length > PLAN_LIST_LIMIT || deletes.length > PLAN_LIST_LIMIT,
  };
}

function embedderInfo(e: Embedder): SyncReport['embedder'] {
  return {
    provider: e.provider,
    model: e.model,
    ...(e.dimension === undefined ? {} : { dimension: e.dimension }),
  };
}

/**
 * The points a run deletes: those sync wrote (they have a `source` field) whose id the
 * folder no longer gives, except those of files skipped as unreadable (a passing I/O error
 * must not drop a file's embeddings). Points written some other way are never touched. A
 * folder with no matching file at all would delete every synced point: refused unless
 * `allowEmptySource`, since an unmounted folder or a mistyped --include looks just so.
 */
async function stalePoints(
  c: SyncCollection | undefined,
  have: ReadonlySet<PointId>,
  wanted: ReadonlySet<string>,
  plans: readonly FilePlan[],
  skipped: readonly { path: string; reason: SkipReason }[],
  o: SyncOptions,
): Promise<{
  ids: PointId[];
  removedFiles: number;
  bySource: Map<string, PointId[]>;
  gone: Map<string, number>;
}> {
  const bySource = new Map<string, PointId[]>();
  const gone = new Map<string, number>();
  const candidates = [...have].filter((id) => !wanted.has(String(id)));
  if (c === undefined || candidates.length === 0)
    return { ids: [], removedFiles: 0, bySource, gone };
  const present = new Set(plans.map((p) => p.path));
  const unreadable = new Set(skipped.filter((s) => s.reason === 'unreadable').map((s) => s.path));
  const ids: PointId[] = [];
  for (const p of await c.getMany(candidates)) {
    const path = p.payload['source'];
    if (typeof path !== 'string' || unreadable.has(path)) continue;
    ids.push(p.id);
    if (!present.has(path)) gone.set(path, (gone.get(path) ?? 0) + 1);
    else bySource.set(path, [...(bySource.get(path) ?? []), p.id]);
  }
  if (plans.length === 0 && ids.length > 0 && o.allowEmptySource !== true) {
    const names = o.optionNames ?? LIBRARY_OPTION_NAMES;
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `no file of ${o.source} matches (${skipped.length} skipped): this run would delete all ${ids.length} synced points of "${o.collection}". Check the folder and ${names.include}; to empty the collection on purpose, pass ${names.allowEmptySource}.`,
      { collection: o.collection, field: 'allowEmptySource' },
    );
  }
  return { ids, removedFiles: gone.size, bySource, gone };
}

/** The collection to sync into, refused when its dimension is not the embedder's. */
function checkedCollection(db: SyncStore, o: SyncOptions): SyncCollection {
  const c = db.collection(o.collection);
  const dim = o.embedder.dimension;
  if (dim !== undefined && c.config.dimension !== dim) {
    throw new QuiverError(
      'DIMENSION_MISMATCH',
      `collection "${o.collection}" holds ${c.config.dimension}-value vectors but ${o.embedder.provider} ${o.embedder.model} gives ${dim}: sync into another collection, or drop this one to rebuild it with this embedder.`,
      { collection: o.collection, expected: c.config.dimension, received: dim },
    );
  }
  return c;
}

function checkpointOf(
  o: SyncOptions,
  run: SyncRun,
  complete: boolean,
  started: number,
): SyncCheckpoint {
  return {
    version: 1,
    collection: o.collection,
    source: o.source,
    embedder: embedderInfo(o.embedder),
    chunk: checkChunkOptions(o.chunk ?? {}),
    ...(o.include === undefined ? {} : { include: [...o.include] }),
    ...(o.exclude === undefined ? {} : { exclude: [...o.exclude] }),
    ...(o.maxFileBytes === undefined ? {} : { maxFileBytes: o.maxFileBytes }),
    startedAt: new Date(started).toISOString(),
    updatedAt: new Date().toISOString(),
    complete,
    filesDone: run.filesDone,
    chunksEmbedded: run.embedded,
    tokens: run.tokens,
    cost: run.cost,
  };
}

/** The writing part of a run: batches of whole files, embedded then written. */
class SyncRun {
  embedded = 0;
  tokens = 0;
  cost = 0;
  requests = 0;
  filesDone = 0;
  /** Stale points deleted, with a file's new chunks or at the end. */
  deleted = 0;
  /** Stale points deleted with their file's new chunks (the end's delete skips them). */
  private readonly replaced = new Set<PointId>();
  /** Estimated tokens of what was embedded, to correct the estimate (see overBudget). */
  private estimated = 0;
  private nextStart = 0;

  constructor(
    private readonly db: SyncStore,
    private readonly o: SyncOptions,
    private collection: SyncCollection | undefined,
    private readonly chunksToEmbed: number,
    private readonly filesToEmbed: number,
    /** Stale points of files still in the folder, by path (see stalePoints). */
    private readonly staleBySource: ReadonlyMap<string, readonly PointId[]>,
  ) {}

  /**
   * Embeds the new chunks of `files`, whole files per batch, with a checkpoint after each;
   * stops before a batch that would pass the cost limit. A file's new chunks replace its
   * old ones in one write: a crash never leaves half of either.
   */
  async embedFiles(
    files: readonly FilePlan[],
    have: ReadonlySet<PointId>,
    checkpoint: (complete: boolean) => Promise<void>,
  ): Promise<SyncReport['stopped']> {
    const batchChunks = (this.o.batchSize ?? 64) * (this.o.concurrency ?? 2);
    let batch: FilePlan[] = [];
    let size = 0;
    for (let i = 0; i <= files.length; i++) {
      const f = files[i];
      const fresh = f === undefined ? 0 : f.chunks.filter((c) => !have.has(c.id)).length;
      if (batch.length > 0 && (f === undefined || size + fresh > batchChunks)) {
        const stop = this.cancelled() ?? this.overBudget(batch, have);
        if (stop !== undefined) return stop;
        await this.writeBatch(batch, have);
        await checkpoint(false);
        batch = [];
        size = 0;
      }
      if (f !== undefined) {
        batch.push(f);
        size += fresh;
      }
    }
    return undefined;
  }

  /** The stop of a run whose signal was aborted. */
  private cancelled(): SyncReport['stopped'] {
    if (this.o.signal?.aborted !== true) return undefined;
    return {
      reason: 'cancelled',
      message: `cancelled; ${this.filesDone} of ${this.filesToEmbed} files and ${this.embedded} of ${this.chunksToEmbed} chunks are embedded and kept. Run again to go on.`,
    };
  }

  private overBudget(
    batch: readonly FilePlan[],
    have: ReadonlySet<PointId>,
  ): SyncReport['stopped'] {
    const max = this.o.maxCost;
    if (max === undefined) return undefined;
    const tokens = batch.reduce(
      (n, f) =>
        n + f.chunks.reduce((m, c) => m + (have.has(c.id) ? 0 : estimateTokens(c.chunk.text)), 0),
      0,
    );
    // The estimate (4 characters a token) corrected by what the provider counted so far:
    // code and CJK text have more tokens per character.
    const ratio = this.estimated > 0 ? Math.max(1, this.tokens / this.estimated) : 1;
    const next = this.cost + ((tokens * ratio) / 1000) * (this.o.pricePer1kTokens ?? 0);
    if (next <= max) return undefined;
    return {
      reason: 'max-cost',
      message: `stopped before a batch of ${tokens} estimated tokens that would take the cost from ${this.cost.toFixed(4)} to ${next.toFixed(4)}, over the limit of ${max}; ${this.filesDone} of ${this.filesToEmbed} files and ${this.embedded} of ${this.chunksToEmbed} chunks are embedded. Run again with a higher limit to go on.`,
    };
  }

  private async writeBatch(batch: readonly FilePlan[], have: ReadonlySet<PointId>): Promise<void> {
    const fresh = batch.flatMap((f) => f.chunks.filter((c) => !have.has(c.id)));
    const vectors = await this.embedAll(fresh.map((c) => c.chunk.text));
    const e = this.o.embedder;
    const collection = await this.target(vectors[0]?.length);
    const points = fresh.map((c, i) => ({
      id: c.id,
      vector: vectors[i]!,
      payload: payloadOf(c, e, vectors[i]!.length),
    }));
    const stale = batch.flatMap((f) => this.staleBySource.get(f.path) ?? []);
    await collection.replace(points, stale);
    for (const id of stale) this.replaced.add(id);
    this.deleted += stale.length;
    this.embedded += fresh.length;
    this.filesDone += batch.length;
    this.progress();
  }

  /** The collection, created with the first vectors' dimension when missing. */
  private async target(dimension: number | undefined): Promise<SyncCollection> {
    if (this.collection !== undefined) return this.collection;
    if (dimension === undefined)
      throw new QuiverError('INTERNAL', 'no vectors to create the collection with; this is a bug.');
    try {
      this.collection = await this.db.createCollection(this.o.collection, {
        dimension,
        metric: 'cosine',
      });
    } catch (e) {
      if (!isQuiverError(e, 'COLLECTION_EXISTS')) throw e;
      this.collection = this.db.collection(this.o.collection);
    }
    return this.collection;
  }

  /**
   * Embeds `texts` in requests of batchSize, `concurrency` at a time, in order. After a
   * failure no new request starts, and the call returns (throws) only once the requests
   * in flight have ended: nothing is spent after a run has stopped.
   */
  private async embedAll(texts: readonly string[]): Promise<Float32Array[]> {
    const size = this.o.batchSize ?? 64;
    const groups: string[][] = [];
    for (let i = 0; i < texts.length; i += size) groups.push(texts.slice(i, i + size));
    const out: Float32Array[][] = new Array<Float32Array[]>(groups.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < groups.length) {
        const g = next++;
        await this.pace();
        if (failed) return; // another request failed while this one waited its turn
        this.requests++;
        try {
          out[g] = [...(await this.embedGroup(groups[g]!))];
        } catch (e) {
          failed = true;
          throw e;
        }
        this.progress();
      }
    };
    const lanes = Math.max(1, Math.min(this.o.concurrency ?? 2, groups.length));
    const settled = await Promise.allSettled(Array.from({ length: lanes }, worker));
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    return out.flat();
  }

  /** One request; its tokens (the provider's count, else the estimate) and their cost. */
  private async embedGroup(texts: readonly string[]): Promise<readonly Float32Array[]> {
    const r = await this.o.embedder.embed(texts);
    const estimate = texts.reduce((n, t) => n + estimateTokens(t), 0);
    const tokens = r.tokens > 0 ? r.tokens : estimate;
    this.estimated += estimate;
    this.tokens += tokens;
    this.cost += (tokens / 1000) * (this.o.pricePer1kTokens ?? 0);
    return r.vectors;
  }

  /** Waits for the request rate limit. */
  private async pace(): Promise<void> {
    const rpm = this.o.requestsPerMinute;
    if (rpm === undefined || rpm <= 0) return;
    const now = Date.now();
    const at = Math.max(now, this.nextStart);
    this.nextStart = at + 60_000 / rpm;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  }

  /** Deletes the stale points not already deleted with their file's new chunks. */
  async deleteStale(stale: readonly PointId[]): Promise<void> {
    const rest = stale.filter((id) => !this.replaced.has(id));
    if (rest.length === 0 || this.collection === undefined) return;
    await this.collection.delete(rest);
    this.deleted += rest.length;
  }

  private progress(): void {
    this.o.onProgress?.({
      filesDone: this.filesDone,
      filesToEmbed: this.filesToEmbed,
      chunksEmbedded: this.embedded,
      chunksToEmbed: this.chunksToEmbed,
      tokens: this.tokens,
      cost: this.cost,
      retries: this.o.embedder.retries ?? 0,
    });
  }
}

/**
 * Updates the payload of kept chunks whose place changed (text inserted above them, new
 * headings, edited front matter): their text and vector are the same, so only the fields
 * that describe where they sit are written, and only when they differ. Returns how many.
 */
async function refreshPayloads(
  c: SyncCollection,
  plans: readonly FilePlan[],
  have: ReadonlySet<PointId>,
): Promise<number> {
  const kept = plans.flatMap((f) => f.chunks.filter((k) => have.has(k.id)));
  let refreshed = 0;
  for (let i = 0; i < kept.length; i += 1000) {
    const page = kept.slice(i, i + 1000);
    const stored = new Map(
      (await c.getMany(page.map((k) => k.id))).map((p) => [String(p.id), p.payload]),
    );
    for (const k of page) {
      const now = placeOf(k);
      const was = stored.get(k.id);
      if (was === undefined) continue;
      const same = (Object.keys(now) as (keyof typeof now)[]).every(
        (key) => JSON.stringify(was[key] ?? null) === JSON.stringify(now[key]),
      );
      if (same) continue;
      await c.setPayload([k.id], now);
      refreshed++;
    }
  }
  return refreshed;
}

/** The payload fields that say where a chunk sits (meta null: the file has no front matter). */
function placeOf(c: PlannedChunk): JsonObject {
  return {
    chunk_index: c.ordinal,
    heading_path: [...c.chunk.headingPath],
    byte_start: c.chunk.byteStart,
    byte_end: c.chunk.byteEnd,
    meta: Object.keys(c.meta).length === 0 ? null : c.meta,
  };
}

/** What each point carries: where its text comes from and what embedded it. */
function payloadOf(c: PlannedChunk, e: Embedder, dimension: number): JsonObject {
  return {
    source: c.path,
    chunk_index: c.ordinal,
    heading_path: [...c.chunk.headingPath],
    byte_start: c.chunk.byteStart,
    byte_end: c.chunk.byteEnd,
    content_hash: c.chunk.hash,
    text: c.chunk.text,
    embedder: { provider: e.provider, model: e.model, dimension },
    ...(Object.keys(c.meta).length === 0 ? {} : { meta: c.meta }),
  };
}
