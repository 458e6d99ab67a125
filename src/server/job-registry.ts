/**
 * The background jobs of a server (document sync and doctor, sync-jobs.ts): one job at a
 * time per collection, its state, progress and report kept until read; the last 100
 * finished jobs are kept. A running job can be cancelled: its signal is aborted, and the
 * job stops at its next batch (state `cancelled`, with the report of what it did).
 */
import { randomUUID } from 'node:crypto';
import { isQuiverError } from '../common/quiver-error.js';
import type { DoctorProgress, DoctorReport } from '../sync/doctor.js';
import type { SyncProgress, SyncReport } from '../sync/sync.js';
import { HttpError } from './http-errors.js';

export interface Job {
  readonly id: string;
  readonly kind: 'sync' | 'doctor';
  readonly collection: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  readonly startedAt: string;
  finishedAt: string | undefined;
  progress: SyncProgress | DoctorProgress | undefined;
  report: SyncReport | DoctorReport | undefined;
  error: { code: string; message: string } | undefined;
  /** Aborted by {@link JobRegistry.cancel}; the job's run watches it. */
  readonly controller: AbortController;
}

const KEEP_FINISHED = 100;

/** The jobs of one server. */
export class JobRegistry {
  private readonly jobs = new Map<string, Job>();

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /**
   * Starts `run` as a job of `collection` unless one is running there (409). `id` is given
   * when the job was named before it started (its cluster lease names it).
   */
  start(
    kind: Job['kind'],
    collection: string,
    run: (job: Job) => Promise<SyncReport | DoctorReport>,
    id: string = randomUUID(),
  ): Job {
    const busy = this.running(collection);
    if (busy !== undefined) {
      throw new HttpError(
        409,
        `Conflict: job ${busy.id} (${busy.kind}) is still running on "${collection}".`,
      );
    }
    const job: Job = {
      id,
      kind,
      collection,
      state: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: undefined,
      progress: undefined,
      report: undefined,
      error: undefined,
      controller: new AbortController(),
    };
    this.jobs.set(job.id, job);
    run(job).then(
      (report) =>
        this.finish(job, job.controller.signal.aborted ? 'cancelled' : 'done', report, undefined),
      (e: unknown) =>
        this.finish(job, 'failed', undefined, {
          code: isQuiverError(e) ? e.code : 'INTERNAL',
          message: e instanceof Error ? e.message : String(e),
        }),
    );
    return job;
  }

  /**
   * Asks the running job `job` to stop at its next batch (what it wrote stays); 409 when it
   * has finished already.
   */
  cancel(job: Job): void {
    if (job.state !== 'running') {
      throw new HttpError(409, `Conflict: job ${job.id} has finished (${job.state}).`);
    }
    job.controller.abort();
  }

  /** The running job of `collection`, if any. */
  running(collection: string): Job | undefined {
    return [...this.jobs.values()].find(
      (j) => j.collection === collection && j.state === 'running',
    );
  }

  private finish(job: Job, state: Job['state'], report: Job['report'], error: Job['error']): void {
    job.state = state;
    job.report = report;
    job.error = error;
    job.finishedAt = new Date().toISOString();
    const finished = [...this.jobs.values()].filter((j) => j.state !== 'running');
    for (const old of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED)))
      this.jobs.delete(old.id);
  }
}
