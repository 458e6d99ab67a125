/**
 * Runs ops/verify on every database a test closes (aesthetics convention 11), unless
 * QUIVER_VERIFY=0: load with `node --import tsx --import ./test/helpers/verify-on-close.ts`.
 * A close that leaves verify errors throws, naming the problems.
 */
import { Quiver } from '../../src/engine/quiver.js';
import { verifyDatabase } from '../../src/ops/verify.js';

const verified = new WeakSet<Quiver>();
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this) below
const close = Quiver.prototype.close;

Quiver.prototype.close = async function closeAndVerify(this: Quiver): Promise<void> {
  await close.call(this);
  if (process.env['QUIVER_VERIFY'] === '0' || verified.has(this)) return;
  verified.add(this);
  const report = await verifyDatabase(this.path, { online: false });
  if (report.errors > 0) {
    throw new Error(
      `verify after close of ${this.path} found ${report.errors} errors: ${JSON.stringify(report.problems)}`,
    );
  }
};
