/**
 * An OpenAI-compatible embeddings provider: `POST {baseUrl}/embeddings` with
 * `{ model, input: [...] }`, answered with `{ data: [{ index, embedding }], usage }`. The
 * same shape is served by Ollama, vLLM, llama.cpp's server and LM Studio. Requests that
 * fail with 429, 5xx, a network error or a timeout are retried with exponential backoff
 * (honouring Retry-After); answers with the wrong count, dimension or non-finite values
 * stop the run. The key is asked for at every request, so a rotated key is used without a
 * restart, and it never appears in an error or a log line.
 */
import { QuiverError } from '../common/quiver-error.js';
import type { Embedder, EmbeddingBatch } from './embedder.js';

export interface OpenAiEmbedderOptions {
  /** e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1` (Ollama). */
  readonly baseUrl: string;
  readonly model: string;
  /** The expected dimension; learned from the first answer when absent. */
  readonly dimension?: number;
  /** The current API key (read again for every request); none for local servers. */
  readonly apiKey?: () => Promise<string | undefined>;
  /** Per request. Default 60 000 ms. */
  readonly timeoutMs?: number;
  /** Retries of one request after the first attempt. Default 6. */
  readonly maxRetries?: number;
  /** First backoff; doubled per retry, capped at 30 s, with jitter. Default 500 ms. */
  readonly backoffMs?: number;
  /** Called before each retry: for counters and progress lines. */
  readonly onRetry?: (reason: string, attempt: number, delayMs: number) => void;
}

const MAX_BACKOFF_MS = 30_000;

/** An embedder calling an OpenAI-compatible `/embeddings` endpoint. */
export function openAiEmbedder(options: OpenAiEmbedderOptions): Embedder {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/embeddings`;
  const state = { dimension: options.dimension, retries: 0 };
  const counted: OpenAiEmbedderOptions = {
    ...options,
    onRetry: (reason, attempt, delay) => {
      state.retries++;
      options.onRetry?.(reason, attempt, delay);
    },
  };
  return {
    provider: 'openai',
    model: options.model,
    get dimension() {
      return state.dimension;
    },
    get retries() {
      return state.retries;
    },
    async embed(texts) {
      const batch = await withRetries(counted, () => request(url, options, texts));
      checkBatch(batch, texts.length, state.dimension, options.model);
      state.dimension ??= batch.vectors[0]?.length;
      return batch;
    },
  };
}

/** A failure worth retrying (429, 5xx, network, timeout), with its Retry-After. */
class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

async function request(
  url: string,
  o: OpenAiEmbedderOptions,
  texts: readonly string[],
): Promise<EmbeddingBatch> {
  const key = await o.apiKey?.();
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key === undefined || key === '' ? {} : { authorization: `Bearer ${key}` }),
      },
      body: JSON.stringify({ model: o.model, input: texts }),
      signal: AbortSignal.timeout(o.timeoutMs ?? 60_000),
    });
  } catch (e) {
    const timeout = e instanceof Error && e.name === 'TimeoutError';
    throw new Transient(
      timeout ? 'the request timed out' : `network error (${String(e)})`,
      undefined,
    );
  }
  if (response.status === 429 || response.status >= 500) {
    await response.body?.cancel();
    throw new Transient(`HTTP ${response.status}`, retryAfter(response.headers.get('retry-after')));
  }
  if (!response.ok) {
    const text = (await response.text()).slice(0, 300);
    throw new QuiverError(
      response.status === 401 || response.status === 403 ? 'UNAUTHORIZED' : 'INVALID_ARGUMENT',
      `the embeddings endpoint ${url} answered HTTP ${response.status}: ${text}`,
      { status: response.status },
    );
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (e) {
    // The body timed out or is not JSON (a proxy's error page): worth another try.
    throw new Transient(`the answer could not be read (${String(e)})`, undefined);
  }
  return parseAnswer(body, url);
}

function retryAfter(header: string | null): number | undefined {
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0
    ? Math.min(seconds * 1000, MAX_BACKOFF_MS)
    : undefined;
}

async function withRetries(
  o: OpenAiEmbedderOptions,
  attempt: () => Promise<EmbeddingBatch>,
): Promise<EmbeddingBatch> {
  const retries = o.maxRetries ?? 6;
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      if (i >= retries) {
        throw new QuiverError(
          'UNAVAILABLE',
          `the embeddings endpoint failed ${i + 1} times (last: ${e.message}); the run stopped, and the next one resumes from here.`,
        );
      }
      const base = Math.min((o.backoffMs ?? 500) * 2 ** i, MAX_BACKOFF_MS);
      const delay = e.retryAfterMs ?? base * (0.5 + Math.random() / 2);
      o.onRetry?.(e.message, i + 1, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function parseAnswer(body: unknown, url: string): EmbeddingBatch {
  const bad = (what: string): QuiverError =>
    new QuiverError('INVALID_ARGUMENT', `the embeddings endpoint ${url} answered ${what}.`);
  if (typeof body !== 'object' || body === null) throw bad('something that is not an object');
  const { data, usage } = body as { data?: unknown; usage?: { total_tokens?: unknown } };
  if (!Array.isArray(data)) throw bad('without a data array');
  const rows = data.map((d: unknown, i) => {
    const item = d as { index?: unknown; embedding?: unknown };
    if (!Array.isArray(item.embedding)) throw bad(`an item without an embedding (at ${i})`);
    return { index: typeof item.index === 'number' ? item.index : i, embedding: item.embedding };
  });
  rows.sort((a, b) => a.index - b.index);
  const tokens = typeof usage?.total_tokens === 'number' ? usage.total_tokens : 0;
  return { vectors: rows.map((r) => Float32Array.from(r.embedding as number[])), tokens };
}

/** Refuses an answer with the wrong count or dimension, or non-finite values. */
function checkBatch(
  batch: EmbeddingBatch,
  count: number,
  dimension: number | undefined,
  model: string,
): void {
  if (batch.vectors.length !== count) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `the embedder (${model}) answered ${batch.vectors.length} vectors for ${count} texts.`,
    );
  }
  const want = dimension ?? batch.vectors[0]?.length;
  for (const v of batch.vectors) {
    if (v.length !== want) {
      throw new QuiverError(
        'DIMENSION_MISMATCH',
        `the embedder (${model}) answered a vector of ${v.length} values where ${want} were expected; check the model and the collection.`,
        { expected: want, received: v.length },
      );
    }
    if (!v.every(Number.isFinite)) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `the embedder (${model}) answered a vector with NaN or infinite values; nothing of this batch was written.`,
      );
    }
  }
}
