/**
 * Big JSON answers without stalling the server: a value is serialized in slices (arrays
 * and the objects holding them are walked, each point is one JSON.stringify), yielding to
 * the event loop whenever a slice has run for a few milliseconds, and sent as a stream of
 * chunks, never one giant string (V8 caps strings at ~512 MiB: "Invalid string length").
 * The size cap is checked while serializing, before any byte is sent, so an answer that
 * turns out too big is still a clean 400.
 */
import { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';
import { badRequest } from './http-errors.js';

/** A slice runs at most this long before other requests get their turn. */
const SLICE_MS = 10;
/** Serialized text is cut into chunks of about this many characters. */
const CHUNK_CHARS = 256 * 1024;

/** True for an array or plain object worth walking (it holds arrays of objects or arrays). */
function isContainer(value: unknown): value is readonly unknown[] | Record<string, unknown> {
  if (Array.isArray(value)) return value.some((v) => typeof v === 'object' && v !== null);
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).some(
    (v) => Array.isArray(v) && v.some((e) => typeof e === 'object' && e !== null),
  );
}

/** Array elements and object entries up to which an answer is serialized in one go. */
const SMALL_ENTRIES = 20_000;

/**
 * True when `v` holds at most `budget.left` array elements and object entries in all (a
 * string counting one per 128 characters), so one JSON.stringify of it is short; stops
 * counting as soon as the budget is spent.
 */
function isSmall(v: unknown, budget: { left: number }): boolean {
  if (typeof v === 'string') {
    budget.left -= v.length >> 7; // long strings (payload text) count by 128 characters
    return budget.left >= 0;
  }
  if (typeof v !== 'object' || v === null) return true;
  const entries = Array.isArray(v) ? (v as readonly unknown[]) : Object.values(v);
  budget.left -= entries.length;
  if (budget.left < 0) return false;
  for (const e of entries) if (!isSmall(e, budget)) return false;
  return true;
}

/** Serializes into chunks, yielding between slices and enforcing the byte cap. */
class ChunkWriter {
  readonly chunks: string[] = [];
  private pending: string[] = [];
  private pendingChars = 0;
  private bytes = 0;
  private sliceStart = performance.now();

  constructor(
    private readonly maxBytes: number,
    private readonly tooBig: (bytes: number) => Error,
  ) {}

  async value(v: unknown): Promise<void> {
    if (!isContainer(v)) {
      this.write(JSON.stringify(v) ?? 'null');
      await this.maybeYield();
    } else if (Array.isArray(v)) {
      this.write('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.write(',');
        await this.value(v[i]);
      }
      this.write(']');
    } else {
      this.write('{');
      let first = true;
      for (const [k, e] of Object.entries(v)) {
        if (e === undefined) continue; // as JSON.stringify leaves it out
        this.write(`${first ? '' : ','}${JSON.stringify(k)}:`);
        first = false;
        await this.value(e);
      }
      this.write('}');
    }
  }

  /** Flushes what is pending and returns the chunks. */
  finish(): string[] {
    this.flush();
    return this.chunks;
  }

  private write(text: string): void {
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= CHUNK_CHARS) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    this.bytes += Buffer.byteLength(chunk);
    if (this.bytes > this.maxBytes) throw this.tooBig(this.bytes);
    this.chunks.push(chunk);
  }

  private async maybeYield(): Promise<void> {
    if (performance.now() - this.sliceStart < SLICE_MS) return;
    await yieldToLoop();
    this.sliceStart = performance.now();
  }
}

/**
 * Serializes `body` in slices and sends it as `application/json`. BAD_REQUEST (400) when the
 * answer exceeds `maxBytes`, before anything was sent.
 *
 * ### Examples
 * ```ts
 * return sendJson(reply, envelope(reply, points), ctx.config.maxResponseBytes);
 * ```
 */
export async function sendJson(
  reply: FastifyReply,
  body: unknown,
  maxBytes: number,
): Promise<FastifyReply> {
  reply.type('application/json; charset=utf-8');
  if (isSmall(body, { left: SMALL_ENTRIES })) {
    // The common answer (a page of hits): one stringify stays far inside a slice.
    const text = JSON.stringify(body) ?? 'null';
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) throw responseTooLarge(bytes, maxBytes);
    return reply.send(Buffer.from(text));
  }
  const writer = new ChunkWriter(maxBytes, (bytes) => responseTooLarge(bytes, maxBytes));
  await writer.value(body);
  const chunks = writer.finish();
  if (chunks.length <= 1) return reply.send(Buffer.from(chunks[0] ?? 'null'));
  return reply.send(Readable.from(chunks));
}

/** The 400 for an answer larger than the maxResponseBytes setting allows. */
function responseTooLarge(bytes: number, maxBytes: number): Error {
  return badRequest(
    `the answer would be over ${mib(bytes)} (at least ${bytes} bytes), more than the ${mib(maxBytes)} one response may hold (server setting maxResponseBytes, ${maxBytes} bytes). Ask for fewer points (limit), leave out vectors (with_vector: false) or payloads, or page with offset; an operator can raise maxResponseBytes.`,
  );
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
