/**
 * Child process of the online backup tests: a writer that runs ops FROM..TO against DIR
 * (with small seal/compaction thresholds so segments switch under the backup) and appends
 * `{"n":…,"lsn":…}` for every acknowledged op to DIR.acks. Usage: ops-writer-child DIR FROM TO [ARCHIVE].
 */
import { appendFileSync } from 'node:fs';
import { Quiver } from '../../src/index.js';
import { COLLECTION, DIM, opAt, writeOp } from './ops-data.js';

const [dir, fromArg, toArg, archive] = process.argv.slice(2);
if (dir === undefined || fromArg === undefined || toArg === undefined) {
  throw new Error('usage: ops-writer-child DIR FROM TO [ARCHIVE]');
}
const db = await Quiver.open(dir, {
  fsync: 'batch',
  sealPoints: 50,
  maxSegments: 3,
  walFileBytes: 8 * 1024,
  ...(archive === undefined ? {} : { walArchiveDir: archive }),
});
const c = db.hasCollection(COLLECTION)
  ? db.collection(COLLECTION)
  : await db.createCollection(COLLECTION, { dimension: DIM, metric: 'euclid' });
appendFileSync(`${dir}.acks`, `${JSON.stringify({ ready: true, lsn: db.stats().wal.lastLsn })}\n`);
for (let n = Number(fromArg); n <= Number(toArg); n++) {
  const op = opAt(n);
  const r = await writeOp(c, op);
  appendFileSync(`${dir}.acks`, `${JSON.stringify({ n, lsn: r.lsn })}\n`);
}
await db.close();
