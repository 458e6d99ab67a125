/**
 * Versions the server reports: Quiver's own (from package.json) and the Qdrant REST API
 * version it follows, which `GET /` reports so the official clients' version check passes.
 */
import { createRequire } from 'node:module';

/** The Qdrant minor version whose REST API Quiver follows (reported by `GET /`). */
export const QDRANT_API_VERSION = '1.18.0';

/** Quiver's version from package.json (`unknown` when it cannot be found). */
export function quiverVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'quiverdb' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location (src/ through tsx, or dist/)
    }
  }
  return 'unknown';
}
