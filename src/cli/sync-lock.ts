/**
 * How `quiver sync` and `quiver doctor` open the database: they write, so they take its
 * lock, and a LOCKED error (most often a running `quiver serve`) says how to ask that
 * server for the same job instead (POST /collections/{c}/sync or /doctor), and to stop the
 * other process otherwise.
 */
import { isQuiverError, QuiverError } from '../common/quiver-error.js';
import { Quiver } from '../engine/quiver.js';

/** The job `command` would run, as the server's route and a request body. */
export interface ServerJob {
  readonly command: 'sync' | 'doctor';
  readonly collection: string;
  /** The JSON body of the request. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** Opens `data`, or throws LOCKED telling how to run `job` through the server that holds it. */
export async function openForJob(data: string, job: ServerJob): Promise<Quiver> {
  try {
    return await Quiver.open(data);
  } catch (e) {
    if (!isQuiverError(e, 'LOCKED')) throw e;
    throw new QuiverError('LOCKED', lockAdvice(data, job, e.details['pid']), e.details, e);
  }
}

/** The message of a LOCKED open: who holds the lock and the curl command to use instead. */
export function lockAdvice(data: string, job: ServerJob, pid: unknown): string {
  const who = typeof pid === 'number' ? ` (pid ${pid})` : '';
  const body = JSON.stringify(job.body).replaceAll("'", "'\\''");
  const route = `/collections/${encodeURIComponent(job.collection)}/${job.command}`;
  return (
    `database ${data} is held by another process${who}, most likely a running quiver serve: ` +
    `quiver ${job.command} needs the writer's lock. Ask the server for a ${job.command} job instead: ` +
    `curl -X POST http://127.0.0.1:6333${route} -H 'content-type: application/json' -d '${body}' ` +
    `(host and port of your server; it answers a status_url to poll, and reads only folders inside its syncRoots setting; docs/SYNC.md "From the server"). ` +
    'Or stop that process and run this command again.'
  );
}
