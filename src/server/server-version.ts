/**
 * Versions the server reports: Quiver's own (from package.json) and the Qdrant REST API
 * version it follows, which `GET /` reports so the official clients' version check passes.
 */
/** The Qdrant minor version whose REST API Quiver follows (reported by `GET /`). */
export const QDRANT_API_VERSION = '1.18.0';

export { quiverVersion } from '../common/version.js';
