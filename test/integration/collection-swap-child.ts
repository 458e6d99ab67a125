/**
 * Child process of the collection-swap test: opens DIR, restores the snapshot file SNAP
 * into collection "docs" (Quiver's atomic replacement) and dies by SIGKILL at the NTH hit
 * of FAILPOINT. Usage: collection-swap-child DIR SNAP FAILPOINT NTH.
 */
import { readFileSync } from 'node:fs';
import { Quiver } from '../../src/index.js';
import type { FailpointName } from '../../src/index.js';
import { armFailpoint } from '../../src/storage/io/failpoints.js';
import { checkSnapshot, restoreSnapshot } from '../../src/server/snapshot-store.js';

const [dir, snap, failpoint, nthArg] = process.argv.slice(2);
if (dir === undefined || snap === undefined || failpoint === undefined || nthArg === undefined) {
  throw new Error('usage: collection-swap-child DIR SNAP FAILPOINT NTH');
}
const db = await Quiver.open(dir, { fsync: 'always', sealPoints: 1000 });
let hits = 0;
armFailpoint(failpoint as FailpointName, () => {
  if (++hits === Number(nthArg)) process.kill(process.pid, 'SIGKILL');
});
const checked = checkSnapshot(new Uint8Array(readFileSync(snap)), 'docs', 1024 * 1024);
await restoreSnapshot(db, checked);
await db.close();
