/**
 * The caps on what one request may ask for (server settings maxBatchSearches,
 * maxResultPoints, maxResponseBytes), checked before any search runs, so one read key
 * cannot make the server spend minutes and gigabytes on a single call. Each refusal is a
 * 400 that names the cap, the setting that raises it and what to ask for instead.
 */
import type { ServerConfig } from './config.js';
import { badRequest } from './http-errors.js';

/** JSON characters per vector component ("-0.123456789," is about 10 to 20). */
const BYTES_PER_COMPONENT = 10;
/** JSON of one point's id, score, version and field names, without vector and payload. */
const BYTES_PER_POINT = 64;

/** What one search or scroll of a request asks for. */
export interface AskedFor {
  /** Points it may return plus the ones it skips (limit + offset). */
  readonly points: number;
  /** Points it returns (limit). */
  readonly returned: number;
  readonly withVector: boolean;
}

type Limits = Pick<ServerConfig, 'maxBatchSearches' | 'maxResultPoints' | 'maxResponseBytes'>;

/** 400 when a batch holds more searches than maxBatchSearches. */
export function checkBatchSize(count: number, limits: Limits): void {
  if (count <= limits.maxBatchSearches) return;
  throw badRequest(
    `the batch holds ${count} searches, more than the ${limits.maxBatchSearches} one request may hold (server setting maxBatchSearches). Split it into several requests; an operator can raise maxBatchSearches.`,
  );
}

/**
 * 400 when the searches of one request ask for more points (sum of limit + offset) than
 * maxResultPoints, or their estimated answer (vectors included) exceeds maxResponseBytes.
 */
export function checkAskedFor(asked: readonly AskedFor[], dimension: number, limits: Limits): void {
  let points = 0;
  let bytes = 0;
  for (const a of asked) {
    points += a.points;
    bytes += a.returned * (BYTES_PER_POINT + (a.withVector ? dimension * BYTES_PER_COMPONENT : 0));
  }
  if (points > limits.maxResultPoints) {
    throw badRequest(
      `the request asks for ${points} points (sum of limit + offset over its searches), more than the ${limits.maxResultPoints} one request may ask for (server setting maxResultPoints). Ask for fewer, page with offset or scroll, or split the batch; an operator can raise maxResultPoints.`,
    );
  }
  if (bytes > limits.maxResponseBytes) {
    throw badRequest(
      `the answer would be about ${bytes} bytes (${points} points of ${dimension}-d vectors), more than the ${limits.maxResponseBytes} one response may hold (server setting maxResponseBytes). Leave out vectors (with_vector: false), ask for fewer points or split the request; an operator can raise maxResponseBytes.`,
    );
  }
}
