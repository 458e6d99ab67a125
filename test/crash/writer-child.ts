/**
 * Child process of the SIGKILL crash test: writes batches forever and records, in a
 * progress file written synchronously (it survives SIGKILL), each batch it starts
 * (SEND) and each batch whose promise resolved (ACK). Usage: writer-child DIR START POLICY.
 */
import { appendFileSync } from 'node:fs';
import { Quiver } from '../../src/index.js';
import type { FsyncPolicy } from '../../src/index.js';
import { batchPoints, deletedBy, DIM } from './crash-data.js';

const [dir, startArg, policy] = process.argv.slice(2);
if (dir === undefined || startArg === undefined || policy === undefined) {
  throw new Error('usage: writer-child DIR START POLICY');
}
const progress = `${dir}.progress`;
const note = (line: string): void => appendFileSync(progress, `${line}\n`);

// Small thresholds so sealing, WAL release and compaction happen often under the kills.
const db = await Quiver.open(dir, {
  fsync: policy as FsyncPolicy,
  sealPoints: 40,
  maxSegments: 3,
  walFileBytes: 16 * 1024,
});
const c = db.hasCollection('crash')
  ? db.collection('crash')
  : await db.createCollection('crash', { dimension: DIM, metric: 'euclid' });
note('READY');
for (let b = Number(startArg); ; b++) {
  note(`SEND ${b}`);
  await c.upsert(batchPoints(b));
  note(`ACK ${b}`);
  const del = deletedBy(b);
  if (del.length > 0) {
    note(`DELSEND ${b}`);
    await c.delete(del);
    note(`DELACK ${b}`);
  }
}
