/**
 * Line-oriented file I/O for export and import through the storage FileSystem: read a file
 * as lines in fixed-size chunks (constant memory), and append text to a file in batches.
 */
import { utf8Encode } from '../common/bytes.js';
import type { FileSystem } from '../storage/io/file-system.js';

const CHUNK = 1 << 20;

/** The lines of `path` (without their `\n`), read 1 MiB at a time. */
export async function* readFileLines(fs: FileSystem, path: string): AsyncGenerator<string> {
  const h = await fs.open(path, 'read');
  try {
    yield* splitLines(
      (async function* chunks(): AsyncGenerator<Uint8Array> {
        for (let pos = 0; ;) {
          const bytes = await h.read(pos, CHUNK);
          if (bytes.length === 0) return;
          pos += bytes.length;
          yield bytes;
        }
      })(),
    );
  } finally {
    await h.close();
  }
}

/** Splits a stream of byte (or string) chunks into lines; a final line without `\n` counts. */
export async function* splitLines(
  chunks: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const chunk of chunks) {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl);
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
  }
  rest += decoder.decode();
  if (rest !== '') yield rest;
}

/** Where export writes: text in, resolved when it may take more. */
export interface TextSink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

/** A sink that writes (replacing) the file at `path`, buffering 1 MiB, fsynced on close. */
export async function fileSink(fs: FileSystem, path: string): Promise<TextSink> {
  const h = await fs.open(path, 'readwrite');
  await h.truncate(0);
  let pos = 0;
  let buf: string[] = [];
  let buffered = 0;
  const flush = async (): Promise<void> => {
    if (buf.length === 0) return;
    const bytes = utf8Encode(buf.join(''));
    buf = [];
    buffered = 0;
    await h.write(bytes, pos);
    pos += bytes.length;
  };
  return {
    write: async (text) => {
      buf.push(text);
      buffered += text.length;
      if (buffered >= CHUNK) await flush();
    },
    close: async () => {
      try {
        await flush();
        await h.sync();
      } finally {
        await h.close();
      }
    },
  };
}
