/**
 * The embedder flags `quiver sync` and `quiver doctor` share (--embedder, --model,
 * --dimension, --base-url, --api-key-env, --api-key-file) and the embedder they describe;
 * the cost limit's environment variable.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { QuiverError } from '../common/quiver-error.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { Embedder } from '../sync/embedder.js';
import { DEFAULT_LOCAL_DIMENSION, localEmbedder } from '../sync/embedder.js';
import { openAiEmbedder } from '../sync/openai-embedder.js';
import { parseInteger } from './cli-support.js';

export interface EmbedderFlags {
  embedder: 'local' | 'openai';
  model?: string;
  dimension?: number;
  baseUrl: string;
  apiKeyEnv: string;
  apiKeyFile?: string;
}

/** Adds the embedder flags to `command`. */
export function addEmbedderFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--embedder <kind>',
        'local: feature hashing, offline and lexical; openai: any OpenAI-compatible /embeddings endpoint',
      )
        .choices(['local', 'openai'])
        .default('local'),
    )
    .option(
      '--model <name>',
      'model of the openai embedder (e.g. text-embedding-3-small, nomic-embed-text)',
    )
    .option(
      '--dimension <n>',
      `vector size: the local embedder's (default ${DEFAULT_LOCAL_DIMENSION}), or the one the openai model must answer`,
      parseInteger('--dimension', 1),
    )
    .option(
      '--base-url <url>',
      'OpenAI-compatible base URL',
      process.env['QUIVER_EMBEDDING_BASE_URL'] ?? 'https://api.openai.com/v1',
    )
    .option('--api-key-env <name>', 'environment variable holding the API key', 'OPENAI_API_KEY')
    .option(
      '--api-key-file <path>',
      'file holding the API key (read for every request: replace it to rotate the key)',
    );
}

/** The embedder the flags describe; an API key is read again for every request. */
export function embedderOf(o: EmbedderFlags): Embedder {
  if (o.embedder === 'local') {
    if (o.model !== undefined) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        '--model is for --embedder openai; the local embedder has one model.',
      );
    }
    return localEmbedder(o.dimension ?? DEFAULT_LOCAL_DIMENSION);
  }
  if (o.model === undefined) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      '--embedder openai needs --model (e.g. text-embedding-3-small).',
    );
  }
  const fs = new NodeFileSystem();
  const keyFile = o.apiKeyFile;
  const apiKey = async (): Promise<string | undefined> =>
    keyFile !== undefined
      ? new TextDecoder().decode(await fs.readFile(keyFile)).trim()
      : process.env[o.apiKeyEnv];
  return openAiEmbedder({
    baseUrl: o.baseUrl,
    model: o.model,
    ...(o.dimension === undefined ? {} : { dimension: o.dimension }),
    apiKey,
    onRetry: (reason, attempt, delay) =>
      process.stderr.write(
        `embedding request failed (${reason}); retry ${attempt} in ${Math.round(delay)} ms\n`,
      ),
  });
}

/** QUIVER_MAX_EMBEDDING_COST, the cost limit when no flag gives one. */
export function envCost(): number | undefined {
  const v = process.env['QUIVER_MAX_EMBEDDING_COST'];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!(n >= 0))
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `QUIVER_MAX_EMBEDDING_COST must be an amount of 0 or more, got "${v}".`,
    );
  return n;
}

/** An amount of money or tokens: a finite number, 0 or more. */
export function parseAmount(value: string): number {
  const n = Number(value);
  if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError('an amount of 0 or more.');
  return n;
}
