/**
 * The chunker (property tests over generated Markdown): every chunk is the exact text at
 * its byte range, within the budget, hashed; together the chunks cover every non-blank
 * character; heading paths follow the headings; the same text gives the same chunks; the
 * overlap of consecutive pieces stays the configured one, with or without spaces.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sha256 } from '../ops/ops-files.js';
import { chunkText, overlapSlack } from './chunker.js';

const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
const numRuns = Number(process.env['QUIVER_FC_RUNS'] ?? '200');

/** Markdown-like documents: headings, paragraphs of words (some non-ASCII), code fences. */
// Whole characters only (a file decoded from UTF-8 never holds a lone surrogate).
const word = fc
  .array(fc.constantFrom('a', 'b', 'c', 'x', 'y', 'é', '漢', '🙂'), { minLength: 1, maxLength: 12 })
  .map((cs) => cs.join(''));
const paragraph = fc.array(word, { minLength: 1, maxLength: 120 }).map((ws) => ws.join(' '));
const block = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 4 }), word).map(([l, t]) => `${'#'.repeat(l)} ${t}`),
  paragraph,
  paragraph.map((p) => `\`\`\`\n# not a heading ${p}\n\`\`\``),
);
const doc = fc.array(block, { maxLength: 30 }).map((bs) => bs.join('\n\n'));
const budget = fc.record({
  maxTokens: fc.integer({ min: 16, max: 300 }),
  overlapTokens: fc.integer({ min: 0, max: 8 }),
});

describe('chunkText', () => {
  it(`chunks are exact, bounded, hashed and cover the text (seed ${seed})`, () => {
    fc.assert(
      fc.property(doc, budget, (text, options) => {
        const bytes = Buffer.from(text, 'utf8');
        const chunks = chunkText(text, options);
        const covered = new Uint8Array(bytes.length);
        for (const c of chunks) {
          assert.equal(bytes.subarray(c.byteStart, c.byteEnd).toString('utf8'), c.text);
          assert.ok(c.text.length <= options.maxTokens * 4, `${c.text.length} chars`);
          assert.equal(c.hash, sha256(c.text));
          assert.ok(c.text.trim() !== '');
          covered.fill(1, c.byteStart, c.byteEnd);
        }
        for (let i = 0; i < bytes.length; i++) {
          const b = bytes[i]!;
          if (b !== 0x20 && b !== 0x0a) assert.equal(covered[i], 1, `byte ${i} is in no chunk`);
        }
        assert.deepEqual(chunkText(text, options), chunks, 'deterministic');
      }),
      { seed, numRuns },
    );
  });

  it('splits at headings outside code fences and keeps their path', () => {
    const text =
      '# A\n\nintro\n\n## B\n\nbody\n\n```\n# fenced\n```\n\n### C\n\ndeep\n\n# D\n\nend\n';
    const chunks = chunkText(text);
    assert.deepEqual(
      chunks.map((c) => c.headingPath),
      [['A'], ['A', 'B'], ['A', 'B', 'C'], ['D']],
    );
    assert.match(chunks[1]!.text, /# fenced/, 'a # line in a fence is not a heading');
  });

  /** Characters each piece repeats of the one before (ASCII text: bytes are characters). */
  function overlaps(chunks: readonly { byteStart: number; byteEnd: number }[]): number[] {
    return chunks.slice(1).map((c, i) => chunks[i]!.byteEnd - c.byteStart);
  }

  /** Asserts every byte of `text` (ASCII) lies in a chunk and starts move forward. */
  function assertCovers(text: string, chunks: readonly { byteStart: number; byteEnd: number }[]) {
    assert.equal(chunks[0]!.byteStart, 0);
    assert.equal(chunks.at(-1)!.byteEnd, text.length);
    for (let i = 1; i < chunks.length; i++) {
      assert.ok(chunks[i]!.byteStart > chunks[i - 1]!.byteStart, 'pieces move on');
      assert.ok(chunks[i]!.byteStart <= chunks[i - 1]!.byteEnd, `a gap before piece ${i}`);
    }
  }

  it('text without spaces overlaps by the configured overlap, not half a piece', () => {
    const text = Array.from({ length: 5000 }, (_, i) => 'abcdefghij'[i % 10]).join('');
    for (const [maxTokens, overlapTokens] of [
      [50, 10],
      [400, 40],
      [16, 0],
      [100, 50],
    ] as const) {
      const chunks = chunkText(text, { maxTokens, overlapTokens });
      assertCovers(text, chunks);
      const allowed = overlapTokens * 4 + overlapSlack(overlapTokens * 4);
      for (const o of overlaps(chunks)) {
        assert.ok(
          o >= 0 && o <= allowed,
          `overlap ${o} > ${allowed} (${maxTokens}/${overlapTokens})`,
        );
      }
      // No word start anywhere: each cut is exactly the configured overlap.
      assert.ok(
        overlaps(chunks).every((o) => o === overlapTokens * 4),
        overlaps(chunks).join(', '),
      );
    }
  });

  it(`overlap stays within the configured one plus its slack, at word starts when near (seed ${seed})`, () => {
    const asciiWord = fc
      .array(fc.constantFrom('a', 'b', 'x', '1'), { minLength: 1, maxLength: 90 })
      .map((cs) => cs.join(''));
    const asciiText = fc
      .array(asciiWord, { minLength: 1, maxLength: 200 })
      .map((ws) => ws.join(' '));
    fc.assert(
      fc.property(asciiText, budget, (text, options) => {
        const chunks = chunkText(text, options);
        if (chunks.length === 0) return;
        const allowed = options.overlapTokens * 4 + overlapSlack(options.overlapTokens * 4);
        for (const o of overlaps(chunks)) assert.ok(o <= allowed, `overlap ${o} > ${allowed}`);
        for (let i = 1; i < chunks.length; i++) {
          assert.ok(chunks[i]!.byteStart > chunks[i - 1]!.byteStart, 'pieces move on');
          assert.ok(chunks[i]!.byteStart <= chunks[i - 1]!.byteEnd, 'no gap');
        }
      }),
      { seed, numRuns },
    );
  });

  it('a long section overlaps its pieces; bad options are refused', () => {
    const words = Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ');
    const chunks = chunkText(words, { maxTokens: 50, overlapTokens: 10 });
    assert.ok(chunks.length > 5);
    for (let i = 1; i < chunks.length; i++) {
      assert.ok(chunks[i]!.byteStart < chunks[i - 1]!.byteEnd, 'pieces overlap');
      assert.match(chunks[i]!.text, /^w\d/, 'a piece starts at a word');
    }
    for (const bad of [
      { maxTokens: 8 },
      { maxTokens: 100, overlapTokens: 60 },
      { maxTokens: 1.5 },
    ]) {
      assert.throws(() => chunkText('x', bad), { code: 'INVALID_ARGUMENT' });
    }
  });
});
