/**
 * UUID spelling: the forms Qdrant accepts for a point id (hyphenated or not, any case,
 * braced, urn:uuid:) and the one form Quiver stores, lowercase hyphenated, so that every
 * spelling of a UUID names the same point.
 */

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const BRACED_UUID_RE = /^\{([0-9a-f-]{32,36})\}$/i;
const URN_UUID_RE = /^urn:uuid:([0-9a-f-]{32,36})$/i;

/** The lowercase hyphenated form of a UUID spelling, or undefined when `text` is none. */
export function normalizeUuid(text: string): string | undefined {
  const inner = BRACED_UUID_RE.exec(text)?.[1] ?? URN_UUID_RE.exec(text)?.[1] ?? text;
  if (!UUID_RE.test(inner)) return undefined;
  const hex = inner.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
