/**
 * The routes of document sync and doctor jobs: `POST /collections/{c}/sync` and
 * `POST /collections/{c}/doctor` start one in the background (one job at a time per
 * collection), `GET /collections/{c}/jobs/{id}` (or `GET /jobs/{id}` with an admin key)
 * reports its state, progress and final report. A sync source must lie inside one of the
 * `syncRoots` folders, symbolic links resolved: a request never reads an arbitrary path.
 * With no `syncRoots` both routes answer 409: a doctor job compares with the source
 * folder, and one that could not read it would pass a collection it never checked.
 * The embedder comes from the server's settings; its API key file is read for every
 * request, so a rotated key needs no restart. In a cluster a job runs on the node that
 * took the request and syncs the cluster collection (its checkpoint stays on that node).
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ClusterSyncStore } from '../cluster/cluster-sync-store.js';
import { doctorCollection } from '../sync/doctor.js';
import type { DoctorReport } from '../sync/doctor.js';
import type { Embedder } from '../sync/embedder.js';
import { localEmbedder } from '../sync/embedder.js';
import { openAiEmbedder } from '../sync/openai-embedder.js';
import type { SyncReport } from '../sync/sync.js';
import { syncDocuments } from '../sync/sync.js';
import type { SyncStore } from '../sync/sync-store.js';
import { loadCheckpoint } from '../sync/sync-checkpoint.js';
import { isInside } from '../sync/source-files.js';
import { checkCollectionName } from '../engine/validation.js';
import { HttpError, badRequest, notFound } from './http-errors.js';
import { bodyObject, checkKeys } from './qdrant/qdrant-input.js';
import { envelope, paramsOf } from './route-table.js';
import type { ServerContext } from './server-context.js';
import type { Job } from './job-registry.js';

/** The embedder the server's settings describe. */
function embedderOf(ctx: ServerContext): Embedder {
  const c = ctx.config;
  if (c.syncEmbedder === 'local') return localEmbedder(c.syncDimension);
  return countingFailures(remoteEmbedder(ctx), ctx);
}

/**
 * `inner` with each request that fails for good counted in quiver_embedding_errors_total
 * (retried ones are counted as they are retried): a job refused before it embeds anything
 * (an empty source, say) is not an embedding error.
 */
function countingFailures(inner: Embedder, ctx: ServerContext): Embedder {
  return {
    get provider() {
      return inner.provider;
    },
    get model() {
      return inner.model;
    },
    get dimension() {
      return inner.dimension;
    },
    get retries() {
      return inner.retries ?? 0;
    },
    async embed(texts) {
      try {
        return await inner.embed(texts);
      } catch (e) {
        ctx.metrics.sync.embeddingErrors.inc();
        throw e;
      }
    },
  };
}

/** The OpenAI-compatible embedder of the server's sync settings. */
function remoteEmbedder(ctx: ServerContext): Embedder {
  const c = ctx.config;
  if (c.syncModel === undefined) {
    throw new HttpError(409, 'Conflict: syncEmbedder is openai but syncModel is not set.');
  }
  const keyFile = c.syncApiKeyFile;
  return openAiEmbedder({
    baseUrl: c.syncBaseUrl,
    model: c.syncModel,
    ...(c.syncDimension === undefined ? {} : { dimension: c.syncDimension }),
    apiKey: async () =>
      keyFile === undefined
        ? undefined
        : new TextDecoder().decode(await ctx.fs.readFile(keyFile)).trim(),
    onRetry: () => ctx.metrics.sync.embeddingErrors.inc(),
  });
}

/** 409 unless the server may read folders for sync and doctor jobs (syncRoots set). */
function checkJobsOn(ctx: ServerContext, kind: 'sync' | 'doctor'): void {
  if (ctx.config.syncRoots.length > 0) return;
  throw new HttpError(
    409,
    `Conflict: ${kind} jobs are off on this server: the syncRoots setting (--sync-roots, QUIVER_SYNC_ROOTS, syncRoots in the config file) lists no folder they may read.`,
  );
}

/** The source folder of a request, refused unless it lies inside a sync root. */
async function checkedSource(ctx: ServerContext, source: unknown): Promise<string> {
  const roots = ctx.config.syncRoots;
  if (typeof source !== 'string' || source === '')
    throw badRequest('source must be a folder path.');
  // A path outside every root is refused with the same 403 whether or not it exists, so the
  // route is no oracle for which files the server can see. Only a missing path that would lie
  // inside a root (compared lexically, as it cannot be resolved) is told it does not exist.
  const real = await ctx.fs.realpath(source).catch(() => undefined);
  for (const root of roots) {
    const r = await ctx.fs.realpath(root).catch(() => undefined);
    if (r === undefined) continue;
    if (real !== undefined && isInside(real, r)) return real;
    if (
      real === undefined &&
      (isInside(resolve(source), r) || isInside(resolve(source), resolve(root)))
    ) {
      throw badRequest(`the source ${source} does not exist inside the sync root ${root}.`);
    }
  }
  throw new HttpError(403, `Forbidden: ${source} is not inside a folder of the syncRoots setting.`);
}

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw badRequest(`${field} must be a list of glob strings.`);
  }
  return value as string[];
}

function jobView(job: Job): Record<string, unknown> {
  return {
    id: job.id,
    kind: job.kind,
    collection: job.collection,
    state: job.state,
    cancel_requested: job.controller.signal.aborted,
    started_at: job.startedAt,
    finished_at: job.finishedAt ?? null,
    progress: job.progress ?? null,
    report: job.report ?? null,
    error: job.error ?? null,
  };
}

/** Counts a finished sync in the metrics. */
function countSync(ctx: ServerContext, r: SyncReport): void {
  const m = ctx.metrics.sync;
  m.chunks.inc({ outcome: 'embedded' }, r.chunks.embedded);
  m.chunks.inc({ outcome: 'deleted' }, r.chunks.deleted);
  m.chunks.inc({ outcome: 'refreshed' }, r.chunks.refreshed);
  m.chunks.inc({ outcome: 'unchanged' }, r.chunks.unchanged);
  m.chunks.inc({ outcome: 'skipped' }, r.files.skipped);
  m.tokens.inc(r.tokens);
  m.cost.inc(r.cost);
}

/**
 * Starts a job of `collection` (409 while one runs there). In a cluster it first takes the
 * collection's cluster-wide lease, so that two nodes never run jobs on one collection at
 * once (409 naming the node whose job holds it); the job lets go of it when it ends.
 */
async function startJob(
  ctx: ServerContext,
  store: SyncStore,
  kind: Job['kind'],
  collection: string,
  run: (job: Job) => Promise<SyncReport | DoctorReport>,
): Promise<Job> {
  // Standalone; or a job of the collection runs here already (start answers its 409).
  if (!(store instanceof ClusterSyncStore) || ctx.jobs.running(collection) !== undefined) {
    return ctx.jobs.start(kind, collection, run);
  }
  const id = randomUUID();
  let started: Job | undefined;
  // A hold lost while the job runs (another node took the lapsed lease) stops the job at
  // its next batch: two jobs must not write one collection at once.
  const onLost = (): void => {
    ctx.logger.warn({ collection, job: id }, 'job lease lost: the job stops at its next batch');
    started?.controller.abort();
  };
  const taken = await store.holdJob(collection, kind, id, onLost);
  if ('holder' in taken) {
    const h = taken.holder;
    throw new HttpError(
      409,
      `Conflict: a ${h.kind} job (${h.job}) on node ${h.node} is running on "${collection}"; wait for it to end, or cancel it on that node (DELETE /collections/${collection}/jobs/${h.job} there). The hold of a node that died lapses within ${Math.ceil((h.until - Date.now()) / 1000)} s.`,
    );
  }
  const { hold } = taken;
  try {
    started = ctx.jobs.start(
      kind,
      collection,
      async (j) => {
        try {
          return await run(j);
        } finally {
          await hold.release();
        }
      },
      id,
    );
    return started;
  } catch (e) {
    await hold.release();
    throw e;
  }
}

/** Registers the job routes. */
export function registerSyncJobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // In a cluster the jobs read and write the cluster collection (cluster-sync-store.ts).
  const storeOf = (): SyncStore =>
    ctx.clusterNode === undefined ? ctx.db() : new ClusterSyncStore(ctx.clusterNode, ctx.db());
  const collectionOf = (params: unknown): string => {
    const name = paramsOf(params)['collection_name'] ?? '';
    storeOf().collection(name); // 404 for an unknown collection, 400 for a custom-sharded one
    return name;
  };

  app.post(
    '/collections/:collection_name/sync',
    { config: { access: 'write' } },
    async (req, reply) => {
      const name = checkCollectionName(paramsOf(req.params)['collection_name'] ?? '');
      const store = storeOf();
      if (store.hasCollection(name)) store.collection(name); // 400 for a custom-sharded one
      checkJobsOn(ctx, 'sync');
      const body = bodyObject(req.body);
      checkKeys(
        body,
        ['source', 'include', 'exclude', 'dry_run', 'allow_empty_source'],
        'the sync body',
      );
      const source = await checkedSource(ctx, body['source']);
      const include = stringList(body['include'], 'include');
      const exclude = stringList(body['exclude'], 'exclude');
      const embedder = embedderOf(ctx);
      const c = ctx.config;
      const job = await startJob(ctx, store, 'sync', name, async (j) => {
        const report = await syncDocuments(store, {
          source,
          collection: name,
          embedder,
          ...(include === undefined ? {} : { include }),
          ...(exclude === undefined ? {} : { exclude }),
          dryRun: body['dry_run'] === true,
          allowEmptySource: body['allow_empty_source'] === true,
          optionNames: { allowEmptySource: '"allow_empty_source": true', include: '"include"' },
          pricePer1kTokens: c.syncPricePer1k,
          ...(c.syncMaxCost === undefined ? {} : { maxCost: c.syncMaxCost }),
          fileSystem: ctx.fs,
          signal: j.controller.signal,
          onProgress: (p) => (j.progress = p),
        });
        if (report.dryRun !== true) countSync(ctx, report);
        return report;
      });
      void reply.code(202);
      return envelope(reply, { job_id: job.id, status_url: `/collections/${name}/jobs/${job.id}` });
    },
  );

  app.post(
    '/collections/:collection_name/doctor',
    { config: { access: 'write' } },
    async (req, reply) => {
      const name = collectionOf(req.params);
      checkJobsOn(ctx, 'doctor');
      const body = bodyObject(req.body);
      checkKeys(body, ['source', 'fix', 'deep_scan'], 'the doctor body');
      // The folder it reads (given, else the last sync's) must lie inside syncRoots too.
      const saved = await loadCheckpoint(ctx.fs, ctx.db().path, name);
      const given = body['source'] ?? (typeof saved === 'object' ? saved.source : undefined);
      const source = given === undefined ? undefined : await checkedSource(ctx, given);
      const embedder = embedderOf(ctx);
      const store = storeOf();
      const job = await startJob(ctx, store, 'doctor', name, async (j) => {
        const report = await doctorCollection(store, {
          signal: j.controller.signal,
          onProgress: (p) => (j.progress = p),
          collection: name,
          ...(source === undefined ? {} : { source }),
          embedder,
          fix: body['fix'] === true,
          deepScan: body['deep_scan'] === true,
          pricePer1kTokens: ctx.config.syncPricePer1k,
          ...(ctx.config.syncMaxCost === undefined ? {} : { maxCost: ctx.config.syncMaxCost }),
          fileSystem: ctx.fs,
        });
        for (const f of report.findings) {
          ctx.metrics.sync.doctorFindings.set(
            { collection: name, kind: f.kind },
            f.status === 'FAIL' ? f.count : 0,
          );
        }
        return report;
      });
      void reply.code(202);
      return envelope(reply, { job_id: job.id, status_url: `/collections/${name}/jobs/${job.id}` });
    },
  );

  /** The job a collection's job route names; 404 for another collection's. */
  const collectionJob = (params: unknown): Job => {
    const p = paramsOf(params);
    const job = ctx.jobs.get(p['job_id'] ?? '');
    if (job === undefined || job.collection !== p['collection_name'])
      throw notFound(`job ${p['job_id']}`);
    return job;
  };

  app.get(
    '/collections/:collection_name/jobs/:job_id',
    // The job is this node's; its collection may not exist yet (a sync creates it).
    { config: { access: 'read', nodeLocal: true } },
    (req, reply) => Promise.resolve(envelope(reply, jobView(collectionJob(req.params)))),
  );

  app.delete(
    '/collections/:collection_name/jobs/:job_id',
    { config: { access: 'write' } },
    (req, reply) => {
      const job = collectionJob(req.params);
      ctx.jobs.cancel(job);
      void reply.code(202);
      return Promise.resolve(envelope(reply, jobView(job)));
    },
  );

  app.get('/jobs/:job_id', { config: { access: 'admin' } }, (req, reply) => {
    const job = ctx.jobs.get(paramsOf(req.params)['job_id'] ?? '');
    if (job === undefined) throw notFound(`job ${paramsOf(req.params)['job_id']}`);
    return Promise.resolve(envelope(reply, jobView(job)));
  });
}
