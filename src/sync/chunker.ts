/**
 * Splits a document's text into chunks: first at Markdown headings (outside code fences),
 * each chunk remembering its heading path, then any section over the token budget at
 * paragraph, line or word boundaries, consecutive pieces overlapping by `overlapTokens`.
 * A chunk is an exact substring of the text with its UTF-8 byte range and SHA-256, so the
 * same text always gives the same chunks (what incremental sync compares).
 */
import { invalidArgument } from '../common/quiver-error.js';
import { sha256 } from '../ops/ops-files.js';

export interface ChunkOptions {
  /** Largest chunk, in estimated tokens (estimateTokens). Default 400. */
  readonly maxTokens?: number;
  /** Estimated tokens the next piece of a long section repeats. Default 40. */
  readonly overlapTokens?: number;
}

export interface Chunk {
  readonly text: string;
  /** Titles of the headings the chunk sits under, outermost first. */
  readonly headingPath: readonly string[];
  /** UTF-8 byte range of the chunk in the text: [byteStart, byteEnd). */
  readonly byteStart: number;
  readonly byteEnd: number;
  /** SHA-256 of the chunk's text, hex. */
  readonly hash: string;
  readonly tokens: number;
}

export const DEFAULT_CHUNK_TOKENS = 400;
export const DEFAULT_OVERLAP_TOKENS = 40;
/** Characters per token of the estimate: the usual rule of thumb for English and code. */
const CHARS_PER_TOKEN = 4;

/** Estimated tokens of `text`: one per 4 characters, rounded up. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** Checks chunk options: a budget of 16..8192 tokens and an overlap under half of it. */
export function checkChunkOptions(o: ChunkOptions): Required<ChunkOptions> {
  const maxTokens = o.maxTokens ?? DEFAULT_CHUNK_TOKENS;
  const overlapTokens = o.overlapTokens ?? DEFAULT_OVERLAP_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 16 || maxTokens > 8192) {
    throw invalidArgument(
      `chunk size must be a whole number of tokens from 16 to 8192, got ${maxTokens}.`,
      {
        field: 'maxTokens',
      },
    );
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens * 2 > maxTokens) {
    throw invalidArgument(
      `chunk overlap must be a whole number of tokens from 0 to half the chunk size (${maxTokens / 2}), got ${overlapTokens}.`,
      { field: 'overlapTokens' },
    );
  }
  return { maxTokens, overlapTokens };
}

interface Section {
  readonly start: number;
  readonly end: number;
  readonly headingPath: readonly string[];
}

/** The chunks of `text` (blank ones left out). */
export function chunkText(text: string, options: ChunkOptions = {}): Chunk[] {
  const { maxTokens, overlapTokens } = checkChunkOptions(options);
  const byteAt = byteOffsets(text);
  const out: Chunk[] = [];
  for (const section of sections(text)) {
    for (const [start, end] of pieces(text, section, maxTokens, overlapTokens)) {
      const piece = text.slice(start, end);
      if (piece.trim() === '') continue;
      out.push({
        text: piece,
        headingPath: section.headingPath,
        byteStart: byteAt(start),
        byteEnd: byteAt(end),
        hash: sha256(piece),
        tokens: estimateTokens(piece),
      });
    }
  }
  return out;
}

/** Sections starting at each heading line outside code fences. */
function sections(text: string): Section[] {
  const out: Section[] = [];
  const path: string[] = [];
  let start = 0;
  let headingPath: readonly string[] = [];
  let fence = false;
  let at = 0;
  for (const line of text.split('\n')) {
    const lineStart = at;
    at += line.length + 1;
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    const h = fence ? null : /^(#{1,6})[ \t]+(.*?)[ \t#]*\r?$/.exec(line);
    if (h === null) continue;
    if (lineStart > start) out.push({ start, end: lineStart, headingPath });
    const level = h[1]!.length;
    path.length = Math.min(path.length, level - 1);
    while (path.length < level - 1) path.push('');
    path.push(h[2]!);
    headingPath = path.filter((p) => p !== '');
    start = lineStart;
  }
  if (text.length > start) out.push({ start, end: text.length, headingPath });
  return out;
}

/**
 * [start, end) pieces of a section within the budget: each piece ends at the last
 * paragraph, line or word break that keeps it within the budget (or at the budget when
 * there is none), and the next starts `overlap` tokens before that end, moved to a word
 * start when one lies within a few characters (overlapSlack), else cut right there: the
 * overlap stays the configured one even in text without spaces.
 */
function pieces(text: string, s: Section, maxTokens: number, overlap: number): [number, number][] {
  const maxChars = maxTokens * CHARS_PER_TOKEN;
  const overlapChars = overlap * CHARS_PER_TOKEN;
  const slack = overlapSlack(overlapChars);
  const out: [number, number][] = [];
  let start = s.start;
  while (s.end - start > maxChars) {
    const limit = start + maxChars;
    const end = breakBefore(text, start, limit);
    out.push([start, end]);
    // Never back before the middle of the piece: an early break must not make the next
    // piece start one character later, again and again.
    const floor = start + Math.ceil((end - start) / 2);
    let next = wordStartNear(text, Math.max(end - overlapChars, floor), slack, floor, end);
    // Never split a character in two, and always move on.
    if (isLowSurrogate(text.charCodeAt(next))) next += next - 1 > start ? -1 : 1;
    start = next;
  }
  out.push([start, s.end]);
  return out;
}

/**
 * How far the start of an overlap may move to reach a word start: a quarter of the overlap,
 * at most 64 characters (none without overlap). A piece's overlap is so at most 1.25 times
 * the configured one (plus one character for a surrogate pair).
 */
export function overlapSlack(overlapChars: number): number {
  return Math.min(64, Math.ceil(overlapChars / 4));
}

/**
 * The word start nearest `at` within `slack` characters, backwards first (a little more
 * overlap), then forwards (a little less), kept in [floor, end]; `at` itself when there is
 * none: a hard cut.
 */
function wordStartNear(
  text: string,
  at: number,
  slack: number,
  floor: number,
  end: number,
): number {
  const isStart = (i: number): boolean => /\s/.test(text[i - 1]!) && !/\s/.test(text[i] ?? ' ');
  if (at >= end) return end;
  for (let i = at; i >= Math.max(floor, at - slack) && i > 0; i--) if (isStart(i)) return i;
  for (let i = at + 1; i <= Math.min(end - 1, at + slack); i++) if (isStart(i)) return i;
  return at;
}

/** The last paragraph, line or word break in (start, limit], else limit. */
function breakBefore(text: string, start: number, limit: number): number {
  const window = text.slice(start, limit);
  for (const pattern of ['\n\n', '\n', ' ']) {
    const i = window.lastIndexOf(pattern);
    if (i > window.length / 4) return start + i + pattern.length;
  }
  // No break in the last three quarters: cut at the limit, never inside a surrogate pair.
  return isLowSurrogate(text.charCodeAt(limit)) ? limit - 1 : limit;
}

/** The second half of a UTF-16 surrogate pair: a cut before it splits a character. */
function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * char index → UTF-8 byte offset in `text`, measured from the previous index asked (the
 * chunker asks in nearly increasing order, so a long document costs one pass, not n²).
 */
function byteOffsets(text: string): (i: number) => number {
  let index = 0;
  let bytes = 0;
  return (i) => {
    if (i >= index) bytes += Buffer.byteLength(text.slice(index, i), 'utf8');
    else bytes -= Buffer.byteLength(text.slice(i, index), 'utf8');
    index = i;
    return bytes;
  };
}
