/**
 * replaceAtomically under the faulty file system's power-loss model (a rename is durable
 * only after its directory is fsynced): a power loss at any step leaves the old content or
 * the new, never a mix; a failed write leaves the old content and no temp file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { FaultyFileSystem } from '../../../test/helpers/faulty-file-system.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { replaceAtomically } from './atomic-replace.js';
import { armFailpoint, disarmAllFailpoints } from './failpoints.js';

const OLD = new TextEncoder().encode('old content');
const NEW = new TextEncoder().encode('the new content');

/** A directory holding `file` with the old content, durable before the test starts. */
function setup(t: Parameters<typeof tempDir>[0]): { path: string; fs: FaultyFileSystem } {
  const path = `${tempDir(t)}/file`;
  writeFileSync(path, OLD);
  return { path, fs: new FaultyFileSystem() };
}

function text(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Arms `name` to cut the power there (the failing call stands for the crash). */
function powerLossAt(fs: FaultyFileSystem, name: 'beforeManifestRename' | 'afterManifestRename') {
  armFailpoint(name, () => {
    fs.simulatePowerLoss();
    throw new Error(`power lost at ${name}`);
  });
}

describe('replaceAtomically', () => {
  afterEach(() => disarmAllFailpoints());

  test('replaces the content and leaves no temp file', async (t) => {
    const { path, fs } = setup(t);
    await replaceAtomically(fs, path, NEW);
    fs.simulatePowerLoss();
    assert.equal(text(path), 'the new content');
    assert.equal(existsSync(`${path}.tmp`), false);
  });

  test('a temp file left by a crash is replaced, not appended to', async (t) => {
    const { path, fs } = setup(t);
    writeFileSync(`${path}.tmp`, new Uint8Array(100).fill(7));
    await replaceAtomically(fs, path, NEW);
    assert.equal(text(path), 'the new content');
  });

  test('power loss before the rename keeps the old content', async (t) => {
    const { path, fs } = setup(t);
    powerLossAt(fs, 'beforeManifestRename');
    await assert.rejects(
      replaceAtomically(fs, path, NEW, { beforeRename: 'beforeManifestRename' }),
    );
    assert.equal(text(path), 'old content');
  });

  test('power loss after the rename keeps the new content (the directory was fsynced)', async (t) => {
    const { path, fs } = setup(t);
    powerLossAt(fs, 'afterManifestRename');
    await assert.rejects(replaceAtomically(fs, path, NEW, { afterRename: 'afterManifestRename' }));
    assert.equal(text(path), 'the new content');
  });

  test('with syncDir false the rename is durable only once the caller fsyncs', async (t) => {
    const { path, fs } = setup(t);
    await replaceAtomically(fs, path, NEW, { syncDir: false });
    fs.simulatePowerLoss();
    assert.equal(text(path), 'old content');
    await replaceAtomically(fs, path, NEW, { syncDir: false });
    await fs.syncDir(path.slice(0, path.lastIndexOf('/')));
    fs.simulatePowerLoss();
    assert.equal(text(path), 'the new content');
  });

  test('a failed write leaves the old content and removes its temp file', async (t) => {
    const { path, fs } = setup(t);
    fs.plan = { failWriteAt: 1 };
    await assert.rejects(replaceAtomically(fs, path, NEW), /No space left/);
    assert.equal(text(path), 'old content');
    assert.equal(existsSync(`${path}.tmp`), false);
  });

  test('a failed fsync never renames', async (t) => {
    const { path, fs } = setup(t);
    fs.plan = { failSyncs: true };
    await assert.rejects(replaceAtomically(fs, path, NEW), /EIO/);
    assert.equal(text(path), 'old content');
    assert.equal(existsSync(`${path}.tmp`), false);
  });

  test('copies a file, streams from a writer, and takes a temp name of its own', async (t) => {
    const { path, fs } = setup(t);
    const source = `${path}.source`;
    writeFileSync(source, NEW);
    await replaceAtomically(fs, path, { copyOf: source });
    fs.simulatePowerLoss();
    assert.equal(text(path), 'the new content');
    await replaceAtomically(
      fs,
      path,
      async (file) => {
        await file.write(OLD, 0);
        await file.write(NEW, OLD.length);
      },
      { temp: `${path}.tmp-mine` },
    );
    fs.simulatePowerLoss();
    assert.equal(text(path), 'old contentthe new content');
    assert.equal(existsSync(`${path}.tmp-mine`), false);
  });
});
