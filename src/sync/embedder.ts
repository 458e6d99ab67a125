/**
 * The embedding providers sync uses, behind one small interface, and the local one: a
 * deterministic feature-hashing embedder over words, word pairs and character trigrams.
 * It needs no model and no network, which makes it right for tests and offline use, and
 * it is lexical, not semantic: texts sharing words are close, synonyms are not.
 */
import { invalidArgument } from '../common/quiver-error.js';

/** The vectors of one request, and the tokens the provider counted (or estimated). */
export interface EmbeddingBatch {
  readonly vectors: readonly Float32Array[];
  readonly tokens: number;
}

export interface Embedder {
  /** Provider kind, recorded in every point's payload: `local`, `openai`. */
  readonly provider: string;
  readonly model: string;
  /** Values per vector; for a remote provider known after its first answer when not given. */
  readonly dimension: number | undefined;
  /** Embeds `texts` in one request (sync batches and parallelises the calls). */
  embed(texts: readonly string[]): Promise<EmbeddingBatch>;
  /** Requests retried so far (remote providers). */
  readonly retries?: number;
}

export const LOCAL_MODEL = 'feature-hashing-v1';
export const DEFAULT_LOCAL_DIMENSION = 256;

/** The local feature-hashing embedder with `dimension` values (8..4096). */
export function localEmbedder(dimension = DEFAULT_LOCAL_DIMENSION): Embedder {
  if (!Number.isInteger(dimension) || dimension < 8 || dimension > 4096) {
    throw invalidArgument(`the local embedder's dimension must be 8..4096, got ${dimension}.`, {
      field: 'dimension',
    });
  }
  return {
    provider: 'local',
    model: LOCAL_MODEL,
    dimension,
    embed: (texts) =>
      Promise.resolve({
        vectors: texts.map((t) => hashEmbedding(t, dimension)),
        tokens: texts.reduce((n, t) => n + wordsOf(t).length, 0),
      }),
  };
}

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * Each word (weight 1), pair of neighbouring words (0.5) and character trigram of a word
 * padded with spaces (0.25) adds its weight, with the sign of one hash bit, to the value
 * its hash picks (a text without words: its character trigrams); the vector is then
 * scaled to length 1 (all zeros only for a blank text).
 */
export function hashEmbedding(text: string, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  const add = (feature: string, weight: number): void => {
    const h = fnv1a(feature);
    v[h % dimension] = v[h % dimension]! + (h & 0x80000000 ? -weight : weight);
  };
  const words = wordsOf(text);
  if (words.length === 0) {
    // Symbols or emoji only: their character trigrams, so a non-blank text never gets the
    // zero vector (which cosine cannot rank, and the doctor reports as damaged).
    const t = ` ${text.trim()} `;
    for (let c = 0; c + 3 <= t.length; c++) add(`s:${t.slice(c, c + 3)}`, 1);
  }
  words.forEach((w, i) => {
    add(`w:${w}`, 1);
    if (i > 0) add(`b:${words[i - 1]!} ${w}`, 0.5);
    const padded = ` ${w} `;
    for (let c = 0; c + 3 <= padded.length; c++) add(`t:${padded.slice(c, c + 3)}`, 0.25);
  });
  let norm = 0;
  for (const x of v) norm += x * x;
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dimension; i++) v[i] = v[i]! * inv;
  }
  return v;
}

/** FNV-1a over a string's UTF-16 code units, as an unsigned 32-bit integer. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
