/**
 * The Log interface: an ordered, durable sequence of records. The local WAL implements it
 * today; a JetStream stream per shard will implement it in cluster mode (SPEC section 10),
 * so the engine's apply path never depends on where the log lives.
 */

/** When an append is acknowledged (SPEC section 4). */
export type FsyncPolicy = 'always' | 'batch' | 'periodic' | 'none';
export const FSYNC_POLICIES: readonly FsyncPolicy[] = Object.freeze([
  'always',
  'batch',
  'periodic',
  'none',
]);

export interface LogStats {
  readonly records: number;
  readonly fsyncs: number;
  readonly bytesWritten: number;
  readonly failures: number;
  readonly lastLsn: number;
  /** Bytes of log on disk. */
  readonly bytes: number;
  readonly currentFile: string;
  readonly broken: boolean;
}

/** How one append is acknowledged. */
export interface AppendOptions {
  /**
   * The record is durable elsewhere already (a cluster replica applies what a replicated
   * stream acknowledged): it is applied and resolved once written, without waiting for
   * this log's fsync, which still follows under the policy. A crash may lose it from this
   * log; the replica then reads it again from the stream, from the position it saved after
   * a flush (cluster-node.ts). If that fsync fails, the log stays stopped (recover()
   * refuses) until the database is reopened.
   */
  readonly durableElsewhere?: boolean;
}

export interface Log {
  /** LSN of the last record applied (durable, unless appended `durableElsewhere`). */
  readonly lsn: number;
  /**
   * Appends a record; resolves with its LSN once durable under the policy (or once written,
   * with `durableElsewhere`). `apply` runs in LSN order at that point, before the promise
   * resolves.
   */
  append(
    type: number,
    body: Uint8Array,
    apply?: (lsn: number) => void,
    options?: AppendOptions,
  ): Promise<number>;
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): LogStats;
}
