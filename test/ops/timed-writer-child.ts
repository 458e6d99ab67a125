/**
 * Child process of the PITR-after-crash test: like ops-writer-child, but each
 * acknowledgement line also carries the time it was received (`{"n","lsn","t"}`), and the
 * writer pauses 5 ms after every 10th op, so a time between two acknowledged ops is
 * unambiguous at the time index's millisecond resolution. Runs until killed (or TO).
 * Usage: timed-writer-child DIR FROM TO ARCHIVE.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Quiver } from '../../src/index.js';
import { COLLECTION, opAt, writeOp } from './ops-data.js';

const [dir, fromArg, toArg, archive] = process.argv.slice(2);
if (dir === undefined || fromArg === undefined || toArg === undefined || archive === undefined) {
  throw new Error('usage: timed-writer-child DIR FROM TO ARCHIVE');
}
const db = await Quiver.open(dir, {
  fsync: 'batch',
  sealPoints: 50,
  maxSegments: 3,
  walFileBytes: 8 * 1024,
  walArchiveDir: archive,
});
const c = db.collection(COLLECTION);
for (let n = Number(fromArg); n <= Number(toArg); n++) {
  const r = await writeOp(c, opAt(n));
  appendFileSync(`${dir}.acks`, `${JSON.stringify({ n, lsn: r.lsn, t: Date.now() })}\n`);
  if (n % 10 === 0) await sleep(5);
}
await db.close();
