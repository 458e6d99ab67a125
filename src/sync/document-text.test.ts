/**
 * Source documents as text: front matter into a payload object (byte positions kept),
 * HTML to text with its headings as # lines, binary and invalid UTF-8 refused; globs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentText, htmlToText, splitFrontMatter } from './document-text.js';
import { globToRegExp } from './source-files.js';

describe('document text', () => {
  it('front matter becomes payload; the text keeps its length', () => {
    const raw =
      '---\ntitle: "Hello"\ntags: ["a", "b"]\nn: 3\ndraft: false\nplain: some words\n---\n# Body\n';
    const { text, meta } = splitFrontMatter(raw);
    assert.deepEqual(meta, {
      title: 'Hello',
      tags: ['a', 'b'],
      n: 3,
      draft: false,
      plain: 'some words',
    });
    assert.equal(text.length, raw.length);
    assert.equal(text.trimStart(), '# Body\n');
    const notMeta = '---\nthis is a thematic break, not front matter\n---\ntext';
    assert.deepEqual(splitFrontMatter(notMeta), { text: notMeta, meta: {} });
  });

  it('HTML: scripts and styles dropped, headings kept, entities decoded', () => {
    const html =
      '<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Title <b>x</b></h1><p>a &amp; b &#233; &#x263A;</p><!-- c --><h3>Sub</h3><ul><li>one</li></ul></body></html>';
    assert.equal(htmlToText(html), '# Title x\n\na & b é ☺\n\n### Sub\n\n- one');
  });

  it('binary and invalid UTF-8 are refused', () => {
    assert.deepEqual(documentText('a.md', Uint8Array.from([0x61, 0, 0x62])), {
      ok: false,
      reason: 'binary',
    });
    assert.deepEqual(documentText('a.txt', Uint8Array.from([0xff, 0xfe, 0x41])), {
      ok: false,
      reason: 'invalid-utf8',
    });
    const html = documentText('x/page.HTML', new TextEncoder().encode('<h2>Hi</h2>'));
    assert.deepEqual(html, { ok: true, text: '## Hi', meta: {} });
  });

  it('globs', () => {
    const cases: Array<[string, string, boolean]> = [
      ['**/*.md', 'a.md', true],
      ['**/*.md', 'x/y/a.md', true],
      ['**/*.md', 'a.mdx', false],
      ['*.md', 'x/a.md', false],
      ['docs/**', 'docs/a/b.txt', true],
      ['**/*.{md,txt}', 'a/b.txt', true],
      ['**/node_modules/**', 'node_modules/', true],
      ['**/node_modules/**', 'a/node_modules/x.md', true],
      ['a?.md', 'ab.md', true],
      ['a.md', 'aXmd', false],
    ];
    for (const [glob, path, want] of cases)
      assert.equal(globToRegExp(glob).test(path), want, `${glob} ${path}`);
  });
});
