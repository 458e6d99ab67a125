/**
 * Child process of the failpoint test: opens a database (recovering whatever an earlier
 * run left), then writes, seals, compacts, archives WAL and closes until the armed
 * failpoint fires. Mode "crash" dies there (SIGKILL); mode "power" first drops everything
 * not yet durable (unsynced bytes and unsynced directory entries), then dies. Progress
 * (SEND/ACK per batch with the time, FIRED with the time) goes to DIR.progress, written
 * synchronously. Usage: failpoint-child DIR MODE FAILPOINT NTH [POLICY] [FIRST-BATCH].
 */
import { appendFileSync } from 'node:fs';
import { Quiver } from '../../src/index.js';
import type { FailpointName, FsyncPolicy } from '../../src/index.js';
import { armFailpoint } from '../../src/storage/io/failpoints.js';
import { FaultyFileSystem } from '../helpers/faulty-file-system.js';
import { batchPoints, deletedBy, DIM } from '../crash/crash-data.js';

const [dir, mode, failpoint, nthArg, policyArg, firstArg] = process.argv.slice(2);
if (dir === undefined || mode === undefined || failpoint === undefined || nthArg === undefined) {
  throw new Error('usage: failpoint-child DIR MODE FAILPOINT NTH [POLICY] [FIRST-BATCH]');
}
const note = (line: string): void => appendFileSync(`${dir}.progress`, `${line}\n`);
const fs = new FaultyFileSystem();
const nth = Number(nthArg);
let hits = 0;
armFailpoint(failpoint as FailpointName, () => {
  if (++hits !== nth) return;
  note(`FIRED ${failpoint} ${Date.now()}`);
  if (mode === 'power') fs.simulatePowerLoss();
  process.kill(process.pid, 'SIGKILL');
});

const db = await Quiver.open(dir, {
  fsync: (policyArg ?? 'batch') as FsyncPolicy,
  fileSystem: fs,
  sealPoints: 40,
  maxSegments: 3,
  walFileBytes: 8 * 1024,
  walArchiveDir: `${dir}.archive`,
});
note('OPENED');
const c = db.hasCollection('crash')
  ? db.collection('crash')
  : await db.createCollection('crash', { dimension: DIM, metric: 'euclid' });
const first = Number(firstArg ?? '1');
for (let b = first; b < first + 80; b++) {
  note(`SEND ${b}`);
  await c.upsert(batchPoints(b));
  note(`ACK ${b} ${Date.now()}`);
  const del = deletedBy(b);
  if (del.length > 0) {
    note(`DELSEND ${b}`);
    await c.delete(del);
    note(`DELACK ${b}`);
  }
  if (b % 10 === 0) await db.checkpoint();
  if (b % 25 === 0) await db.compact();
}
note('CLOSING');
await db.close();
note('CLOSED');
