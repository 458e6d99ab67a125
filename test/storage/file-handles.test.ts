/**
 * File handles are given back on failure paths (issue 10 item 6): an open that fails after
 * its file was opened, and a WAL writer stopped by an I/O error, leave no descriptor for
 * the garbage collector to close (Node's "Closing file descriptor … on garbage collection").
 * Handles are counted by a FileSystem wrapper around the real one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { AuditLog } from '../../src/server/auth/audit-log.js';
import type { FileHandle, OpenMode } from '../../src/storage/io/file-system.js';
import { NodeFileSystem, ioError } from '../../src/storage/io/node-file-system.js';
import { WalWriter } from '../../src/storage/wal/wal-writer.js';
import { FaultyFileSystem } from '../helpers/faulty-file-system.js';
import { HandleCountingFileSystem } from '../helpers/handle-counting-file-system.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The real file system, except that asking an open file for its size fails (EIO). */
class FailingSizeFileSystem extends NodeFileSystem {
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await super.open(path, mode);
    return {
      path: h.path,
      read: (position, length) => h.read(position, length),
      readSync: (position, target) => h.readSync(position, target),
      write: (data, position) => h.write(data, position),
      sync: () => h.sync(),
      truncate: (size) => h.truncate(size),
      size: () => Promise.reject(ioError('stat', path, new Error('EIO: injected'))),
      close: () => h.close(),
    };
  }
}

describe('file handles on failure paths', () => {
  test('an audit log that fails to open closes the file it opened', async (t) => {
    const dir = tempDir(t);
    const fs = new HandleCountingFileSystem(new FailingSizeFileSystem());
    await assert.rejects(AuditLog.open(fs, `${dir}/audit.log`, SILENT_LOGGER), /EIO/);
    assert.equal(fs.opened, 1, 'the audit file was opened');
    assert.deepEqual(fs.openPaths(), [], 'and closed again');
  });

  test('a WAL writer stopped by a failed fsync closes its file on close()', async (t) => {
    const dir = tempDir(t);
    const faulty = new FaultyFileSystem();
    const fs = new HandleCountingFileSystem(faulty);
    const w = await WalWriter.open({ fs, dir, policy: 'always', logger: SILENT_LOGGER }, undefined);
    await w.append(3, new Uint8Array([1, 2, 3]));
    faulty.plan = { failSyncs: true };
    await assert.rejects(w.append(3, new Uint8Array([4])), (e) => isQuiverError(e, 'UNAVAILABLE'));
    faulty.plan = {};
    await w.close();
    assert.deepEqual(fs.openPaths(), []);
  });

  test('a WAL writer whose rotation failed closes its file on close()', async (t) => {
    const dir = tempDir(t);
    const faulty = new FaultyFileSystem();
    const fs = new HandleCountingFileSystem(faulty);
    const w = await WalWriter.open(
      { fs, dir, policy: 'always', logger: SILENT_LOGGER, fileTargetBytes: 64 },
      undefined,
    );
    await w.append(3, new Uint8Array(80));
    // The next append rotates; the new file's header write fails (disk full).
    faulty.plan = { failWriteAt: faulty.writes + 1, sticky: true };
    await assert.rejects(w.append(3, new Uint8Array([1])));
    faulty.heal();
    await w.close().catch(() => undefined);
    assert.deepEqual(fs.openPaths(), []);
  });
});
