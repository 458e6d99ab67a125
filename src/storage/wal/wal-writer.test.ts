/**
 * WalWriter: group commit, fsync policies, and faults injected through the FileSystem
 * layer — a torn write, a failed write (disk full), a lost fsync followed by power loss.
 * Also what each policy promises about durability (which appends are fsynced before they
 * are acknowledged, what flush and close add, what the periodic timer does), how flush
 * waits for work in flight, the errors and counters of a stopped writer, recover(), the
 * apply and onFsync callbacks, and the stats the engine reports.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Logger } from '../../common/logger.js';
import { SILENT_LOGGER } from '../../common/logger.js';
import { isQuiverError, QuiverError } from '../../common/quiver-error.js';
import { FaultyFileSystem } from '../../../test/helpers/faulty-file-system.js';
import { HandleCountingFileSystem } from '../../../test/helpers/handle-counting-file-system.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { armFailpoint } from '../io/failpoints.js';
import type { FileHandle, FileSystem, OpenMode } from '../io/file-system.js';
import { NodeFileSystem } from '../io/node-file-system.js';
import type { FsyncPolicy } from './log.js';
import { scanWal } from './wal-reader.js';
import { WalWriter } from './wal-writer.js';

const body = (n: number): Uint8Array => new Uint8Array([n & 255, (n >> 8) & 255, 7, 7]);

async function openWriter(fs: FileSystem, dir: string, policy: FsyncPolicy): Promise<WalWriter> {
  const scan = await scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined });
  return WalWriter.open(
    { fs, dir, policy, logger: SILENT_LOGGER },
    scan.end === undefined ? undefined : { ...scan.end, lastLsn: scan.lastLsn },
  );
}

async function replay(fs: FileSystem, dir: string): Promise<{ lsns: number[]; torn: boolean }> {
  const lsns: number[] = [];
  const r = await scanWal(fs, dir, {
    cleanlyClosed: false,
    onRecord: (rec) => lsns.push(rec.lsn),
  });
  return { lsns, torn: r.tornTail !== undefined };
}

describe('WalWriter', () => {
  for (const policy of ['always', 'batch', 'periodic', 'none'] as const) {
    test(`policy ${policy}: records come back in order with their LSNs, apply runs in order`, async (t) => {
      const dir = tempDir(t);
      const fs = new NodeFileSystem();
      const w = await openWriter(fs, dir, policy);
      const applied: number[] = [];
      const lsns = await Promise.all(
        Array.from({ length: 50 }, (_, i) => w.append(3, body(i), (lsn) => applied.push(lsn))),
      );
      assert.deepEqual(
        lsns,
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(applied, lsns);
      await w.close();
      const w2 = await openWriter(fs, dir, policy);
      assert.equal(await w2.append(3, body(99)), 51);
      await w2.close();
      assert.deepEqual(
        (await replay(fs, dir)).lsns,
        Array.from({ length: 51 }, (_, i) => i + 1),
      );
    });
  }

  test('group commit: concurrent writers share fsyncs', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    const before = fs.syncs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => w.append(3, body(i))));
    const used = fs.syncs - before;
    assert.ok(used < 200, `200 concurrent appends used ${used} fsyncs`);
    assert.ok(used >= 1);
    await w.close();
  });

  test('a torn write (crash mid-append) is cut at reopen; acknowledged records survive', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    for (let i = 0; i < 5; i++) await w.append(3, body(i));
    // The next write tears: half its bytes reach the file, then the "process dies".
    fs.plan = { tearWriteAt: fs.writes + 1 };
    await assert.rejects(w.append(3, new Uint8Array(1000)));
    // Simulate the crash: no truncation happened if the process died, so re-add the half.
    const scanned = await replay(fs, dir);
    assert.deepEqual(scanned.lsns, [1, 2, 3, 4, 5]);
    const fs2 = new NodeFileSystem();
    const w2 = await openWriter(fs2, dir, 'always');
    assert.equal(await w2.append(3, body(6)), 6);
    await w2.close();
    assert.deepEqual((await replay(fs2, dir)).lsns, [1, 2, 3, 4, 5, 6]);
    // The "dead" writer's file is still open in this process: close it, not the GC.
    await w.close().catch(() => undefined);
  });

  test('a torn tail left on disk by a killed process is reported, then truncated', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    for (let i = 0; i < 3; i++) await w.append(3, body(i));
    // Tear the next write and make the cut fail too, as when the process is killed.
    fs.plan = { tearWriteAt: fs.writes + 1 };
    await assert.rejects(w.append(3, new Uint8Array(4000)));
    await w.close().catch(() => undefined);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(`${dir}/0000000000000001.wal`, new Uint8Array(123).fill(9));
    const r = await replay(new NodeFileSystem(), dir);
    assert.deepEqual(r.lsns, [1, 2, 3]);
    assert.equal(r.torn, true);
    const w2 = await openWriter(new NodeFileSystem(), dir, 'always');
    await w2.append(3, body(4));
    await w2.close();
    const r2 = await replay(new NodeFileSystem(), dir);
    assert.deepEqual(r2.lsns, [1, 2, 3, 4]);
    assert.equal(r2.torn, false);
  });

  test('disk full: the failed append is rejected with NO_SPACE, nothing is lost, writes resume', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'batch');
    for (let i = 0; i < 4; i++) await w.append(3, body(i));
    fs.plan = { failWriteAt: fs.writes + 1, sticky: true };
    await assert.rejects(w.append(3, body(100)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    await assert.rejects(w.append(3, body(101)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    fs.heal();
    assert.equal(await w.append(3, body(5)), 5, 'no LSN gap after the failures');
    await w.close();
    assert.deepEqual((await replay(fs, dir)).lsns, [1, 2, 3, 4, 5]);
  });

  test('a lost fsync then power loss leaves a clean prefix, never corruption', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    for (let i = 0; i < 3; i++) await w.append(3, body(i));
    fs.plan = { loseFsyncs: true };
    for (let i = 3; i < 8; i++) await w.append(3, body(i));
    fs.simulatePowerLoss();
    const r = await replay(fs, dir);
    // The disk lied: the records after the lost fsyncs are gone, the rest is intact.
    assert.deepEqual(r.lsns, [1, 2, 3]);
    const w2 = await openWriter(new NodeFileSystem(), dir, 'always');
    assert.equal(await w2.append(3, body(9)), 4);
    await w2.close();
    await w.close().catch(() => undefined);
  });

  test('a failed fsync stops the writer (UNAVAILABLE) instead of pretending', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await openWriter(fs, dir, 'always');
    await w.append(3, body(1));
    fs.plan = { failSyncs: true };
    await assert.rejects(w.append(3, body(2)), (e: unknown) => isQuiverError(e, 'UNAVAILABLE'));
    fs.plan = {};
    assert.equal(w.stats().broken, true);
    await assert.rejects(w.append(3, body(3)), (e: unknown) => isQuiverError(e, 'UNAVAILABLE'));
    await w.close().catch(() => undefined);
  });

  test('rotation: files roll over at the target size and replay spans them', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const scan0 = await scanWal(fs, dir, { cleanlyClosed: false, onRecord: () => undefined });
    assert.equal(scan0.end, undefined);
    const w = await WalWriter.open(
      { fs, dir, policy: 'none', logger: SILENT_LOGGER, fileTargetBytes: 200 },
      undefined,
    );
    for (let i = 0; i < 40; i++) await w.append(3, body(i));
    await w.close();
    assert.ok((await fs.list(dir)).length > 3);
    assert.deepEqual(
      (await replay(fs, dir)).lsns,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  });
});

// --- helpers for the tests below ---------------------------------------------------------

/** One WAL record of `body(n)`: 17 bytes of frame header and 4 of body. */
const RECORD = 21;
const HEADER = 16;
const FILE1 = '0000000000000001.wal';

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

/** A logger that keeps its lines; `onError` runs on each error line. */
function recordingLogger(onError?: () => void): Logger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
      if (level === 'error') onError?.();
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Lets every pending I/O callback and microtask run a few times. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** `p`, or a failure naming `what` when it does not settle within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Tracks whether a promise has settled yet. */
function track<T>(p: Promise<T>): { readonly p: Promise<T>; readonly done: () => boolean } {
  let settled = false;
  const q = p.finally(() => (settled = true));
  q.catch(() => undefined);
  return { p: q, done: () => settled };
}

interface Hooks {
  sync?: (path: string) => Promise<void>;
  write?: (path: string) => Promise<void>;
  truncate?: (path: string, size: number) => Promise<void>;
}

/** A file system whose handles run test hooks before sync, write and truncate. */
class HookedFileSystem extends HandleCountingFileSystem {
  hooks: Hooks = {};
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await super.open(path, mode);
    const hooks = (): Hooks => this.hooks;
    return {
      path: h.path,
      read: (position, length) => h.read(position, length),
      readSync: (position, target) => h.readSync(position, target),
      size: () => h.size(),
      close: () => h.close(),
      async write(data, position) {
        await hooks().write?.(h.path);
        await h.write(data, position);
      },
      async sync() {
        await hooks().sync?.(h.path);
        await h.sync();
      },
      async truncate(size) {
        await hooks().truncate?.(h.path, size);
        await h.truncate(size);
      },
    };
  }
}

/** Blocks the first fsync after arming until `release()`; `started` resolves when it begins. */
function gateFirstSync(fs: HookedFileSystem): { started: Promise<void>; release: () => void } {
  const started = deferred();
  const gate = deferred();
  let armed = true;
  fs.hooks = {
    ...fs.hooks,
    sync: async () => {
      if (!armed) return;
      armed = false;
      started.resolve();
      await gate.promise;
    },
  };
  return { started: started.promise, release: () => gate.resolve() };
}

function writerOn(
  fs: FileSystem,
  dir: string,
  policy: FsyncPolicy,
  extra: Partial<Parameters<typeof WalWriter.open>[0]> = {},
): Promise<WalWriter> {
  return WalWriter.open({ fs, dir, policy, logger: SILENT_LOGGER, ...extra }, undefined);
}

function isStoppedError(e: unknown, dir: string, cause: RegExp): boolean {
  assert.ok(isQuiverError(e, 'UNAVAILABLE'), `expected UNAVAILABLE, got ${String(e)}`);
  assert.match(e.message, /stopped accepting writes after an I\/O failure/);
  assert.match(e.message, cause);
  assert.match(e.message, /Fix the disk, then reopen the database\./);
  assert.equal(e.details.file, `${dir}/${FILE1}`);
  return true;
}

describe('WalWriter: durability by policy', () => {
  for (const [policy, fsyncsPerAppend] of [
    ['always', 1],
    ['batch', 1],
    ['periodic', 0],
    ['none', 0],
  ] as const) {
    test(`policy ${policy}: ${fsyncsPerAppend === 1 ? 'each acknowledged append is fsynced first' : 'appends are acknowledged without an fsync'}`, async (t) => {
      const dir = tempDir(t);
      const fs = new FaultyFileSystem();
      const w = await writerOn(fs, dir, policy, { periodicMs: 60_000, batchDelayMs: 1 });
      for (let i = 0; i < 3; i++) await w.append(3, body(i));
      assert.equal(w.stats().fsyncs, 3 * fsyncsPerAppend);
      fs.simulatePowerLoss();
      const survived = (await replay(fs, dir)).lsns;
      assert.deepEqual(survived, fsyncsPerAppend === 1 ? [1, 2, 3] : []);
      await w.close().catch(() => undefined);
    });
  }

  test('none: never fsyncs by itself, even past the periodic interval; flush and close do', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'none', { periodicMs: 2 });
    await w.flush();
    assert.equal(w.stats().fsyncs, 0, 'nothing written, nothing to fsync');
    for (let i = 0; i < 3; i++) await w.append(3, body(i));
    await sleep(25);
    assert.equal(w.stats().fsyncs, 0);
    await w.flush();
    assert.equal(w.stats().fsyncs, 1, 'flush fsyncs what was written');
    await w.flush();
    assert.equal(w.stats().fsyncs, 1, 'a second flush has nothing to fsync');
    await w.append(3, body(4));
    await w.close();
    assert.equal(w.stats().fsyncs, 2, 'close fsyncs what was written');
    fs.simulatePowerLoss();
    assert.deepEqual((await replay(fs, dir)).lsns, [1, 2, 3, 4]);
  });

  test('periodic: an idle writer never fsyncs; a written record is fsynced by the timer, once', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const fsynced = deferred();
    const w = await writerOn(fs, dir, 'periodic', {
      periodicMs: 2,
      onFsync: () => fsynced.resolve(),
    });
    await sleep(20);
    assert.equal(w.stats().fsyncs, 0, 'nothing written: no fsync');
    assert.equal(await w.append(3, body(1)), 1);
    assert.equal(w.stats().fsyncs, 0, 'the append itself is not fsynced');
    await within(fsynced.promise, 5_000, 'the periodic fsync');
    assert.equal(w.stats().fsyncs, 1);
    await sleep(20);
    assert.equal(w.stats().fsyncs, 1, 'clean again: no more fsyncs');
    fs.simulatePowerLoss();
    assert.deepEqual((await replay(fs, dir)).lsns, [1]);
    await w.close().catch(() => undefined);
  });

  test('periodic: a failed background fsync stops the writer once and is not retried', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const failed = deferred();
    const logger = recordingLogger(() => failed.resolve());
    const w = await writerOn(fs, dir, 'periodic', { periodicMs: 2, logger });
    fs.plan = { failSyncs: true };
    await w.append(3, body(1));
    await within(failed.promise, 5_000, 'the failing periodic fsync');
    const syncs = fs.syncs;
    await sleep(25);
    assert.equal(fs.syncs, syncs, 'a stopped writer does not fsync again');
    assert.equal(w.stats().failures, 1);
    assert.equal(w.stats().broken, true);
    await assert.rejects(w.append(3, body(2)), (e: unknown) =>
      isStoppedError(e, dir, /injected fsync failure/),
    );
    await w.close();
  });

  test('periodic: flush waits for a background fsync in flight; appends made meanwhile follow it', async (t) => {
    const dir = tempDir(t);
    const fs = new HookedFileSystem();
    const w = await writerOn(fs, dir, 'periodic', { periodicMs: 2 });
    const gate = gateFirstSync(fs);
    assert.equal(await w.append(3, body(1)), 1);
    await within(gate.started, 5_000, 'the periodic fsync');
    const flushed = track(w.flush());
    const second = track(w.append(3, body(2)));
    await settle();
    assert.equal(flushed.done(), false, 'flush returned during the fsync');
    assert.equal(second.done(), false, 'a record was written during the fsync');
    gate.release();
    assert.equal(await within(second.p, 5_000, 'the second append'), 2);
    await within(flushed.p, 5_000, 'flush');
    await w.close();
    assert.deepEqual((await replay(fs, dir)).lsns, [1, 2]);
  });

  test('batch: the first record waits batchDelayMs for company; one fsync covers the group', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'batch', { batchDelayMs: 200 });
    const a = w.append(3, body(1));
    await sleep(5);
    const b = w.append(3, body(2));
    assert.deepEqual(await Promise.all([a, b]), [1, 2]);
    assert.equal(w.stats().fsyncs, 1);
    await w.close();
  });

  test('durableElsewhere: applied and acknowledged once written, before the fsync; a record without it still waits', async (t) => {
    const dir = tempDir(t);
    const fs = new HookedFileSystem();
    const w = await writerOn(fs, dir, 'always');
    const gate = gateFirstSync(fs);
    const applied: number[] = [];
    const early = w.append(3, body(1), (lsn) => applied.push(lsn), { durableElsewhere: true });
    assert.equal(await within(early, 5_000, 'the append durable elsewhere'), 1);
    await within(gate.started, 5_000, 'its fsync');
    assert.deepEqual(applied, [1], 'applied before its fsync finished');
    assert.equal(w.lsn, 1);
    const local = track(w.append(3, body(2), (lsn) => applied.push(lsn)));
    await settle();
    assert.equal(local.done(), false, 'a local record was acknowledged before an fsync');
    gate.release();
    assert.equal(await within(local.p, 5_000, 'the local append'), 2);
    assert.deepEqual(applied, [1, 2]);
    await w.close();
    assert.deepEqual((await replay(fs, dir)).lsns, [1, 2]);
  });

  test('durableElsewhere: after its fsync failed, recover() refuses (no LSN gap under applied records) and a reopen finds them', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'always');
    assert.equal(await w.append(3, body(1)), 1);
    fs.plan = { failSyncs: true };
    const applied: number[] = [];
    const early = w.append(3, body(2), (lsn) => applied.push(lsn), { durableElsewhere: true });
    assert.equal(await early, 2);
    assert.deepEqual(applied, [2]);
    await assert.rejects(w.flush(), 'the failed fsync stopped the writer');
    fs.plan = {};
    assert.equal(await w.recover(), false, 'cutting record 2 would leave a gap under it');
    assert.equal(w.stats().broken, true);
    await assert.rejects(w.append(3, body(3)));
    await w.close();
    assert.deepEqual(await replay(fs, dir), { lsns: [1, 2], torn: false });
  });

  test('durableElsewhere: a batch that mixes it with a local record waits for the fsync', async (t) => {
    const dir = tempDir(t);
    const fs = new HookedFileSystem();
    const w = await writerOn(fs, dir, 'batch', { batchDelayMs: 20 });
    const gate = gateFirstSync(fs);
    const early = track(w.append(3, body(1), undefined, { durableElsewhere: true }));
    const local = track(w.append(3, body(2)));
    await within(gate.started, 5_000, 'the batch fsync');
    await settle();
    assert.equal(early.done(), false, 'acknowledged before the fsync of a mixed batch');
    gate.release();
    assert.deepEqual(await Promise.all([early.p, local.p]), [1, 2]);
    await w.close();
  });

  for (const policy of ['always', 'periodic', 'none'] as const) {
    test(`policy ${policy}: appends do not wait for the batch delay`, async (t) => {
      const dir = tempDir(t);
      const w = await writerOn(new NodeFileSystem(), dir, policy, { batchDelayMs: 60_000 });
      assert.equal(await within(w.append(3, body(1)), 5_000, 'the append'), 1);
      await w.close();
    });
  }
});

describe('WalWriter: flush, ordering and callbacks', () => {
  test('flush right after an append waits for it; after a durable append it costs no fsync', async (t) => {
    const dir = tempDir(t);
    const w = await writerOn(new FaultyFileSystem(), dir, 'always');
    const a = track(w.append(3, body(1)));
    await w.flush();
    assert.equal(a.done(), true, 'flush returned before the pending append was written');
    assert.equal(w.stats().fsyncs, 1);
    await w.flush();
    assert.equal(w.stats().fsyncs, 1);
    await w.close();
    assert.equal(w.stats().fsyncs, 1, 'close of a clean log adds no fsync');
  });

  test('flush during the last batch’s fsync waits for that fsync', async (t) => {
    const dir = tempDir(t);
    const fs = new HookedFileSystem();
    const w = await writerOn(fs, dir, 'always');
    const gate = gateFirstSync(fs);
    const a = track(w.append(3, body(1)));
    await within(gate.started, 5_000, 'the fsync');
    const flushed = track(w.flush());
    await settle();
    assert.equal(flushed.done(), false, 'flush returned while the fsync was in flight');
    gate.release();
    await within(flushed.p, 5_000, 'flush');
    assert.equal(a.done(), true);
    assert.equal(await a.p, 1);
    await w.close();
  });

  test('a record appended while a batch is being written goes into the next batch, with the next LSN', async (t) => {
    const dir = tempDir(t);
    const w = await writerOn(new NodeFileSystem(), dir, 'always');
    let second: Promise<number> | undefined;
    const disarm = armFailpoint('afterWalAppendBeforeFsync', async () => {
      if (second !== undefined) return;
      second = w.append(3, body(2));
      await sleep(10); // time for a second, concurrent writer to start (it must not)
    });
    t.after(disarm);
    const first = w.append(3, body(1));
    // flush() waits through both batches, the second one scheduled by the first.
    const flushed = w.flush();
    assert.equal(await first, 1);
    assert.ok(second !== undefined);
    assert.equal(await within(second, 5_000, 'the second append'), 2);
    await within(flushed, 5_000, 'flush');
    disarm();
    await w.close();
    assert.deepEqual((await replay(new NodeFileSystem(), dir)).lsns, [1, 2]);
  });

  test('apply: a throwing apply is logged with its LSN and stops neither its record nor later ones', async (t) => {
    const dir = tempDir(t);
    const logger = recordingLogger();
    const w = await writerOn(new NodeFileSystem(), dir, 'always', { logger });
    const boom = new Error('apply failed');
    const applied: number[] = [];
    const lsns = await Promise.all([
      w.append(3, body(1)),
      w.append(3, body(2), () => {
        throw boom;
      }),
      w.append(3, body(3), (lsn) => applied.push(lsn)),
    ]);
    assert.deepEqual(lsns, [1, 2, 3]);
    assert.deepEqual(applied, [3]);
    const errors = logger.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, 'only the throwing apply is logged');
    assert.equal(errors[0]?.obj['lsn'], 2);
    assert.equal(errors[0]?.obj['err'], boom);
    await w.close();
  });

  test('onFsync gets the duration of each fsync in seconds', async (t) => {
    const dir = tempDir(t);
    const fs = new HookedFileSystem();
    const seconds: number[] = [];
    const w = await writerOn(fs, dir, 'always', { onFsync: (s) => seconds.push(s) });
    fs.hooks = { sync: () => sleep(30) };
    const t0 = performance.now();
    await w.append(3, body(1));
    await w.append(3, body(2));
    const wall = (performance.now() - t0) / 1000;
    assert.equal(seconds.length, 2);
    assert.equal(w.stats().fsyncs, 2);
    for (const s of seconds) {
      assert.ok(s >= 0.02 && s <= wall, `fsync took ${s} s (wall ${wall} s)`);
    }
    fs.hooks = {};
    await w.close();
  });

  test('lsn, position() and stats() describe the log after appends', async (t) => {
    const dir = tempDir(t);
    const fs = new NodeFileSystem();
    const w = await writerOn(fs, dir, 'always');
    for (let i = 0; i < 3; i++) await w.append(3, body(i));
    assert.equal(w.lsn, 3);
    assert.deepEqual(w.position(), { seq: 1, offset: HEADER + 3 * RECORD, lastLsn: 3 });
    assert.deepEqual(w.stats(), {
      records: 3,
      fsyncs: 3,
      bytesWritten: 3 * RECORD,
      failures: 0,
      lastLsn: 3,
      bytes: HEADER + 3 * RECORD,
      currentFile: `${dir}/${FILE1}`,
      broken: false,
    });
    assert.equal(await fs.fileSize(`${dir}/${FILE1}`), HEADER + 3 * RECORD);
    await w.close();
  });
});

describe('WalWriter: failures, close and recover', () => {
  test('a failed fsync: the error names the cause, the file and the way out; flush rethrows it; close succeeds', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const logger = recordingLogger();
    const w = await writerOn(fs, dir, 'always', { logger });
    await w.append(3, body(1));
    fs.plan = { failSyncs: true };
    let stopped: unknown;
    await assert.rejects(w.append(3, body(2)), (e: unknown) => {
      stopped = e;
      return isStoppedError(e, dir, /EIO: injected fsync failure/);
    });
    assert.ok(stopped instanceof QuiverError);
    assert.equal(w.stats().failures, 1);
    assert.equal(w.stats().broken, true);
    const logged = logger.lines.filter((l) => l.level === 'error');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.obj['err'], stopped.cause, 'the log carries the I/O error');
    await assert.rejects(w.flush(), (e: unknown) => e === stopped);
    await assert.rejects(w.append(3, body(3)), (e: unknown) => e === stopped);
    await w.close();
    await w.close();
    await assert.rejects(w.append(3, body(3)), (e: unknown) => {
      assert.ok(isQuiverError(e, 'CLOSED'));
      assert.equal(e.message, 'The write-ahead log is closed.');
      return true;
    });
  });

  test('a failpoint between the write and its fsync: the record is not acknowledged, nothing is fsynced, queued records are refused', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'always');
    let queued: Promise<number> | undefined;
    const disarm = armFailpoint('afterWalAppendBeforeFsync', () => {
      queued = w.append(3, body(2));
      throw new Error('failpoint fired');
    });
    t.after(disarm);
    const syncs = fs.syncs;
    await assert.rejects(w.append(3, body(1)), (e: unknown) =>
      isStoppedError(e, dir, /failpoint fired/),
    );
    disarm();
    assert.equal(fs.syncs, syncs, 'no fsync after the failpoint');
    assert.ok(queued !== undefined);
    await assert.rejects(within(queued, 5_000, 'the queued append'), (e: unknown) =>
      isStoppedError(e, dir, /failpoint fired/),
    );
    await w.close();
    fs.simulatePowerLoss();
    assert.deepEqual((await replay(fs, dir)).lsns, []);
  });

  test('a failpoint right after the fsync: the record is durable but not acknowledged', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'always');
    const disarm = armFailpoint('afterWalFsync', () => {
      throw new Error('after fsync');
    });
    t.after(disarm);
    const syncs = fs.syncs;
    await assert.rejects(w.append(3, body(1)), (e: unknown) =>
      isStoppedError(e, dir, /after fsync/),
    );
    disarm();
    assert.equal(fs.syncs, syncs + 1);
    await w.close();
    fs.simulatePowerLoss();
    assert.deepEqual((await replay(fs, dir)).lsns, [1]);
  });

  test('a torn write is cut, so the same writer continues on a clean boundary', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'always');
    for (let i = 0; i < 2; i++) await w.append(3, body(i));
    fs.plan = { tearWriteAt: fs.writes + 1 };
    await assert.rejects(w.append(3, new Uint8Array(4000)));
    fs.plan = {};
    assert.equal(w.stats().failures, 1);
    assert.equal(w.stats().broken, false);
    assert.equal(await w.append(3, body(3)), 3);
    await w.close();
    assert.deepEqual(await replay(fs, dir), { lsns: [1, 2, 3], torn: false });
  });

  test('a failed write whose cut fails too stops the writer', async (t) => {
    const dir = tempDir(t);
    const fs = new HookedFileSystem(new FaultyFileSystem({ failWriteAt: 2 }));
    const w = await writerOn(fs, dir, 'always');
    fs.hooks = {
      truncate: () => Promise.reject(new Error('EIO: cannot truncate')),
    };
    await assert.rejects(w.append(3, body(1)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    assert.equal(w.stats().failures, 2, 'the write and the failed cut');
    assert.equal(w.stats().broken, true);
    await assert.rejects(w.append(3, body(2)), (e: unknown) =>
      isStoppedError(e, dir, /cannot truncate/),
    );
    fs.hooks = {};
    await w.close();
  });

  test('recover(): cuts the unacknowledged bytes of a failed fsync and lets writes resume without a gap', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const logger = recordingLogger();
    const w = await writerOn(fs, dir, 'always', { logger });
    assert.equal(await w.recover(), true, 'a healthy writer needs no recovery');
    assert.deepEqual(
      logger.lines.filter((l) => l.level !== 'debug'),
      [],
      'and reports none',
    );
    await w.append(3, body(1));
    fs.plan = { failSyncs: true };
    await assert.rejects(w.append(3, body(2)));
    assert.equal(await w.recover(), false, 'the disk still fails');
    assert.equal(w.stats().broken, true);
    fs.plan = {};
    assert.equal(await w.recover(), true);
    assert.equal(w.stats().broken, false);
    const warned = logger.lines.filter((l) => l.level === 'warn');
    assert.equal(warned.length, 1);
    assert.equal(warned[0]?.obj['file'], `${dir}/${FILE1}`);
    assert.equal(
      await fs.fileSize(`${dir}/${FILE1}`),
      HEADER + RECORD,
      'the unacknowledged record is cut',
    );
    assert.equal(await w.append(3, body(3)), 2);
    await w.close();
    assert.deepEqual(await replay(fs, dir), { lsns: [1, 2], torn: false });
  });

  test('recover() after close refuses', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const w = await writerOn(fs, dir, 'always');
    fs.plan = { failSyncs: true };
    await assert.rejects(w.append(3, body(1)));
    fs.plan = {};
    await w.close();
    assert.equal(await w.recover(), false);
  });

  test('open: a failure while creating the first file closes the handle it opened', async (t) => {
    const dir = tempDir(t);
    const fs = new HandleCountingFileSystem(new FaultyFileSystem({ failWriteAt: 1 }));
    await assert.rejects(writerOn(fs, dir, 'always'), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    assert.equal(fs.opened, 1);
    assert.deepEqual(fs.openPaths(), []);
  });
});
