/**
 * A real HTTP server on 127.0.0.1 speaking the OpenAI embeddings shape, for sync tests: it
 * answers `POST /v1/embeddings` with the local feature-hashing vectors of the inputs (so
 * answers are deterministic) and `usage.total_tokens`, counts what it embedded, and plays
 * scripted faults: 429 (with Retry-After), 500, a hang past the client's timeout, a wrong
 * dimension, NaN values, or a delay.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashEmbedding } from '../../src/sync/embedder.js';

export type Fault = '429' | '500' | 'hang' | 'wrong-dimension' | 'nan';

export interface EmbeddingServer {
  readonly url: string;
  /** Requests received, answered or not. */
  requests: number;
  /** Texts embedded in successful answers. */
  texts: number;
  /** Every text embedded successfully, in order. */
  readonly embedded: string[];
  /** Faults to play, one per request, before answering normally. */
  readonly faults: Fault[];
  /** Delay of every normal answer, ms. */
  delayMs: number;
  /** Authorization headers seen. */
  readonly keys: string[];
  close(): Promise<void>;
}

export async function startEmbeddingServer(dimension: number): Promise<EmbeddingServer> {
  const state: Omit<EmbeddingServer, 'url' | 'close'> = {
    requests: 0,
    texts: 0,
    embedded: [],
    faults: [],
    delayMs: 0,
    keys: [],
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      state.requests++;
      state.keys.push(req.headers.authorization ?? '');
      const fault = state.faults.shift();
      if (fault === 'hang') return; // never answers: the client times out
      if (fault === '429') return void res.writeHead(429, { 'retry-after': '0' }).end('slow down');
      if (fault === '500') return void res.writeHead(500).end('boom');
      const { input } = JSON.parse(body) as { input: string[] };
      const answer = (): void => {
        const data = input.map((t, index) => {
          const v = Array.from(
            hashEmbedding(t, fault === 'wrong-dimension' ? dimension + 1 : dimension),
          );
          if (fault === 'nan') v[0] = NaN;
          return { object: 'embedding', index, embedding: v };
        });
        if (fault === undefined) {
          state.texts += input.length;
          state.embedded.push(...input);
        }
        const tokens = input.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0);
        res.writeHead(200, { 'content-type': 'application/json' });
        // JSON has no NaN: send it as a string the client must refuse.
        res.end(
          JSON.stringify({ object: 'list', data, usage: { total_tokens: tokens } }).replace(
            /null/g,
            '"NaN"',
          ),
        );
      };
      if (state.delayMs > 0) setTimeout(answer, state.delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
