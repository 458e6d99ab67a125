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

export interface Log {
  /** LSN of the last durable record. */
  readonly lsn: number;
  /**
   * Appends a record; resolves with its LSN once durable under the policy. `apply` runs
   * in LSN order after durability and before the promise resolves.
   */
  append(type: number, body: Uint8Array, apply?: (lsn: number) => void): Promise<number>;
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): LogStats;
}
