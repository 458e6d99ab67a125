/**
 * The deterministic data of the crash test: what batch b writes and deletes, so the
 * parent can check every acknowledged point exactly.
 */
import type { PointInput } from '../../src/index.js';

export const DIM = 8;
export const PER_BATCH = 10;

/** The vector of point i of batch b: exact in float32. */
export function vectorOf(b: number, i: number): number[] {
  return Array.from({ length: DIM }, (_, j) => ((b * 31 + i * 7 + j * 3) % 1000) / 8);
}

export function batchPoints(b: number): PointInput[] {
  const pts: PointInput[] = [];
  for (let i = 0; i < PER_BATCH; i++) {
    pts.push({
      id: b * PER_BATCH + i,
      vector: vectorOf(b, i),
      payload: { b, i, text: 'x'.repeat((b * 13 + i) % 300), tags: [b % 7, 'k'] },
    });
  }
  pts.push({ id: 'counter', vector: vectorOf(b, 99), payload: { b } });
  return pts;
}

/** Ids that batch b deletes after its upsert is acknowledged (every 4th batch). */
export function deletedBy(b: number): number[] {
  if (b % 4 !== 0 || b < 2) return [];
  return [(b - 2) * PER_BATCH, (b - 2) * PER_BATCH + 1];
}
