/**
 * Quiver's own version, read once from package.json (the CLI's --version, the server's
 * /health and GET /).
 */
import { createRequire } from 'node:module';

let cached: string | undefined;

/** The quiverdb version from package.json, or `unknown` when it cannot be found. */
export function quiverVersion(): string {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  // src/common through tsx, or dist/common in the built package: both two levels down.
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'quiverdb' && typeof pkg.version === 'string') {
        cached = pkg.version;
        return cached;
      }
    } catch {
      // try the next location
    }
  }
  cached = 'unknown';
  return cached;
}
