/**
 * The text of one source document, from its bytes: refused when it is not text (invalid
 * UTF-8, NUL bytes), front matter split off into a payload object, HTML converted to
 * Markdown-like text (its headings kept as `#` lines so the chunker can split on them).
 * Pure functions: reading files is source-files.ts's job.
 */
import type { JsonObject, JsonValue } from '../common/types.js';

/** A document ready to chunk, or why it was skipped. */
export type DocumentText =
  | { readonly ok: true; readonly text: string; readonly meta: JsonObject }
  | { readonly ok: false; readonly reason: 'binary' | 'invalid-utf8' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a file named `path` holding `bytes`. */
export function documentText(path: string, bytes: Uint8Array): DocumentText {
  if (bytes.includes(0)) return { ok: false, reason: 'binary' };
  let raw: string;
  try {
    raw = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'invalid-utf8' };
  }
  if (/\.html?$/i.test(path)) return { ok: true, text: htmlToText(raw), meta: {} };
  return { ok: true, ...splitFrontMatter(raw) };
}

/**
 * Front matter: a first line `---`, `key: value` lines, a closing `---`. Values are read
 * as JSON where they parse (numbers, booleans, `[..]` lists of JSON), else as strings with
 * surrounding quotes removed; lines that are not `key: value` keep the block as text.
 * The text keeps its byte positions: the block is replaced by blank lines.
 */
export function splitFrontMatter(raw: string): { text: string; meta: JsonObject } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(raw);
  if (m === null) return { text: raw, meta: {} };
  const meta: Record<string, JsonValue> = {};
  for (const line of m[1]!.split(/\r?\n/)) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const kv = /^([A-Za-z0-9_.-]+)\s*:\s*(.*)$/.exec(line);
    if (kv === null) return { text: raw, meta: {} };
    meta[kv[1]!] = scalar(kv[2]!.trim());
  }
  return { text: m[0].replace(/[^\n]/g, ' ') + raw.slice(m[0].length), meta };
}

function scalar(value: string): JsonValue {
  if (/^(?:-?\d+(?:\.\d+)?|true|false|null|\[.*\])$/.test(value)) {
    try {
      return JSON.parse(value) as JsonValue;
    } catch {
      // a list that is not JSON: kept as the string it is
    }
  }
  const quoted = /^(['"])(.*)\1$/.exec(value);
  return quoted !== null ? quoted[2]! : value;
}

const ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

/**
 * HTML as text: script, style and comments dropped, `<h1>`..`<h6>` as `#` lines, block
 * elements as line breaks, other tags removed, entities decoded, blank runs collapsed.
 */
export function htmlToText(html: string): string {
  const text = html
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|noscript)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<h([1-6])\b[^>]*>([\s\S]*?)<\/h\1\s*>/gi, (_, level: string, inner: string) => {
      const title = inner
        .replace(/<[^>]*>/g, '')
        .replace(/\s+/g, ' ')
        .trim();
      return `\n\n${'#'.repeat(Number(level))} ${title}\n\n`;
    })
    .replace(/<(?:br|\/p|\/div|\/li|\/tr|\/section|\/article|\/pre|\/blockquote)\b[^>]*>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '\n- ')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, e: string) => decodeEntity(e) ?? whole);
  return text
    .split('\n')
    .map((l) => l.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function decodeEntity(e: string): string | undefined {
  if (e.startsWith('#')) {
    const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return Number.isInteger(code) && code > 0 && code <= 0x10ffff
      ? String.fromCodePoint(code)
      : undefined;
  }
  return ENTITIES[e.toLowerCase()];
}
