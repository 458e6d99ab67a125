/**
 * AuditLog: one JSON line per mutating or admin call (SPEC section 6): time, key id, ip,
 * method, route, collection, status. Appends go through one queue, in order; a failing
 * audit file is reported to the logger and never fails the request.
 */
import type { Logger } from '../../common/logger.js';
import type { FileHandle, FileSystem } from '../../storage/io/file-system.js';
import { parentDir } from '../../ops/ops-files.js';
import { utf8Encode } from '../../common/bytes.js';

/** One audit record. */
export interface AuditEntry {
  readonly time: string;
  readonly keyId: string | null;
  readonly ip: string;
  readonly method: string;
  readonly route: string;
  readonly collection: string | null;
  readonly status: number;
}

export class AuditLog {
  private readonly fh: FileHandle | undefined;
  private readonly logger: Logger;
  private position: number;
  private queue: Promise<void> = Promise.resolve();

  private constructor(fh: FileHandle | undefined, position: number, logger: Logger) {
    this.fh = fh;
    this.position = position;
    this.logger = logger;
  }

  /** Opens (creating) the audit file for appending; `''` gives a log that drops entries. */
  static async open(fs: FileSystem, path: string, logger: Logger): Promise<AuditLog> {
    if (path === '') return new AuditLog(undefined, 0, logger);
    await fs.mkdirp(parentDir(path));
    const fh = await fs.open(path, 'readwrite');
    try {
      return new AuditLog(fh, await fh.size(), logger);
    } catch (e) {
      // Not opened after all: give the descriptor back now, not to the garbage collector.
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /** Queues one entry. */
  write(entry: AuditEntry): void {
    const fh = this.fh;
    if (fh === undefined) return;
    const bytes = utf8Encode(`${JSON.stringify(entry)}\n`);
    this.queue = this.queue.then(async () => {
      try {
        await fh.write(bytes, this.position);
        this.position += bytes.length;
      } catch (e) {
        this.logger.error({ err: e, entry }, 'audit log write failed');
      }
    });
  }

  /** Resolves when every queued entry is written. */
  flush(): Promise<void> {
    return this.queue;
  }

  /** Flushes, syncs and closes the file. */
  async close(): Promise<void> {
    await this.queue;
    if (this.fh !== undefined) {
      await this.fh.sync().catch(() => undefined);
      await this.fh.close();
    }
  }
}
