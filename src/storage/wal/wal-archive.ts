/**
 * WAL archive (point-in-time recovery): released WAL files are copied, unchanged, into an
 * archive directory before the writer deletes them, beside a small time index per file
 * (`<name>.times.json`: `[[lsn, ms], …]`, "records up to lsn were durable at ms").
 * The WAL format itself is unchanged; `quiver backup restore --to-time` reads the index.
 */
import { utf8Decode, utf8Encode } from '../../common/bytes.js';
import { replaceAtomically } from '../io/atomic-replace.js';
import type { FileSystem } from '../io/file-system.js';

/** Suffix of the time-index side file of an archived (or live) WAL file. */
export const WAL_TIMES_SUFFIX = '.times.json';

/** Time samples of one WAL file: [lsn, ms] pairs, both ascending. */
export type WalTimeSamples = readonly (readonly [number, number])[];

/** Most samples kept per file; past it every other one is dropped (times stay conservative). */
const MAX_SAMPLES = 65_536;

/**
 * Records that every record up to `lsn` was durable at `ms`. Samples within one
 * millisecond collapse into one, so the index stays exact at millisecond resolution.
 */
export function addTimeSample(samples: [number, number][], lsn: number, ms: number): void {
  const last = samples[samples.length - 1];
  if (last !== undefined && last[1] >= ms) {
    last[0] = Math.max(last[0], lsn);
    return;
  }
  samples.push([lsn, ms]);
  if (samples.length > MAX_SAMPLES) {
    // Keep the later sample of each pair: a record then looks later than it was, never earlier.
    const thinned = samples.filter((_, i) => i % 2 === 1 || i === samples.length - 1);
    samples.length = 0;
    samples.push(...thinned);
  }
}

/** Writes the time index of WAL file `name` into the archive. */
export async function writeWalTimes(
  fs: FileSystem,
  archiveDir: string,
  name: string,
  samples: WalTimeSamples,
): Promise<void> {
  await fs.mkdirp(archiveDir);
  await replaceAtomically(
    fs,
    `${archiveDir}/${name}${WAL_TIMES_SUFFIX}`,
    utf8Encode(JSON.stringify(samples)),
  );
}

/** Reads the time index of WAL file `name`; empty when missing or unreadable. */
export async function readWalTimes(
  fs: FileSystem,
  archiveDir: string,
  name: string,
): Promise<[number, number][]> {
  const path = `${archiveDir}/${name}${WAL_TIMES_SUFFIX}`;
  try {
    if (!(await fs.exists(path))) return [];
    const v: unknown = JSON.parse(utf8Decode(await fs.readFile(path)));
    if (!Array.isArray(v)) return [];
    return v.filter(
      (x): x is [number, number] =>
        Array.isArray(x) && typeof x[0] === 'number' && typeof x[1] === 'number',
    );
  } catch {
    return [];
  }
}

/**
 * Copies the WAL file at `path` into the archive (temp, fsync, rename, fsync dir) with its
 * time index. Only then may the caller delete the original.
 */
export async function archiveWalFile(
  fs: FileSystem,
  archiveDir: string,
  path: string,
  name: string,
  samples: WalTimeSamples,
): Promise<void> {
  await fs.mkdirp(archiveDir);
  await replaceAtomically(
    fs,
    `${archiveDir}/${name}`,
    { copyOf: path },
    { beforeRename: 'midWalArchive', syncDir: false },
  );
  // Either way the archive directory is fsynced after the rename.
  if (samples.length > 0) await writeWalTimes(fs, archiveDir, name, samples);
  else await fs.syncDir(archiveDir);
}
