/**
 * docs/FORMAT.md cannot drift from the code: its tables are parsed and checked against
 * `src/storage/format.ts` (record types, segment sections, file kinds and their magics,
 * the format version) and against the manifest's types (every field), both ways, so a new
 * type or field cannot land undocumented and a removed one cannot stay in the document.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import ts from 'typescript';
import * as format from '../../src/storage/format.js';
import { encodeWalRecord } from '../../src/storage/wal/wal-record.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOC = readFileSync(`${ROOT}docs/FORMAT.md`, 'utf8');

/** A Markdown table: its rows as records keyed by the header cells. */
type Table = readonly Readonly<Record<string, string>>[];

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim());
}

/** Level of a Markdown heading line (2 for "## "), 0 for any other line. */
const levelOf = (line: string): number => /^(#+) /.exec(line)?.[1]?.length ?? 0;

/** The tables of the section whose heading starts with `heading`, its subsections included. */
function tablesUnder(heading: string): Table[] {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => levelOf(l) > 0 && l.replace(/^#+ /, '').startsWith(heading));
  assert.notEqual(start, -1, `FORMAT.md has no heading "${heading}"`);
  const level = levelOf(lines[start]!);
  const tables: Table[] = [];
  let header: string[] | undefined;
  let rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 1)) {
    const inner = levelOf(line);
    if (inner > 0 && inner <= level) break;
    if (!line.startsWith('|')) {
      if (header !== undefined) tables.push(rows);
      header = undefined;
      continue;
    }
    if (header === undefined) {
      header = cells(line);
      rows = [];
    } else if (!/^\|[\s|:-]+\|$/.test(line.trim())) {
      const values = cells(line);
      rows.push(Object.fromEntries(header.map((h, i) => [h, values[i] ?? ''])));
    }
  }
  if (header !== undefined) tables.push(rows);
  return tables;
}

/** The one table under `heading` that has column `column`. */
function tableWith(heading: string, column: string): Table {
  const found = tablesUnder(heading).filter((t) => t[0] !== undefined && column in t[0]);
  assert.equal(found.length, 1, `FORMAT.md "${heading}" needs one table with a "${column}" column`);
  return found[0]!;
}

/** `x` → x: the code spans of a cell. */
const unquote = (cell: string): string => cell.replace(/`/g, '');

/** Checks that `documented` and `declared` name the same entries, reporting both ways. */
function assertSameEntries(what: string, documented: string[], declared: string[]): void {
  const missing = declared.filter((d) => !documented.includes(d));
  const stale = documented.filter((d) => !declared.includes(d));
  assert.deepEqual(missing, [], `${what} declared in the code but without a FORMAT.md row`);
  assert.deepEqual(stale, [], `${what} with a FORMAT.md row but not in the code`);
}

/** Property names of an interface declared in a source file. */
function interfaceFields(file: string, name: string): string[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(`${ROOT}${file}`, 'utf8'),
    ts.ScriptTarget.Latest,
  );
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) && statement.name.text === name) {
      return statement.members.flatMap((m) =>
        ts.isPropertySignature(m) && ts.isIdentifier(m.name) ? [m.name.text] : [],
      );
    }
  }
  throw new Error(`${file} declares no interface ${name}`);
}

const hex = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

describe('docs/FORMAT.md matches the code', () => {
  test('the format version in its first line is FORMAT_MAJOR.FORMAT_MINOR', () => {
    const version = /Format version \*\*(\d+)\.(\d+)\*\*/.exec(DOC);
    assert.deepEqual(
      [Number(version?.[1]), Number(version?.[2])],
      [format.FORMAT_MAJOR, format.FORMAT_MINOR],
    );
  });

  test('§2.3 has one row per WalRecordType, same number and name', () => {
    const rows = tableWith('2.3 ', 'type');
    assertSameEntries(
      'WAL record types',
      rows.map((r) => `${r['type']} ${unquote(r['name'] ?? '')}`),
      Object.entries(format.WalRecordType).map(([name, type]) => `${type} ${name}`),
    );
  });

  test('§5.2 has one row per SegmentSection, same kind and name', () => {
    const rows = tableWith('5.2 ', 'kind');
    assertSameEntries(
      'segment sections',
      rows.map((r) => `${r['kind']} ${unquote(r['name'] ?? '')}`),
      Object.entries(format.SegmentSection).map(([name, kind]) => `${kind} ${name}`),
    );
  });

  test('§7 has one row per field of the manifest, its collections and their segments', () => {
    const rows = tableWith('7. ', 'in');
    const file = 'src/storage/manifest/manifest.ts';
    const declared = [
      ...interfaceFields(file, 'Manifest').map((f) => `manifest ${f}`),
      ...interfaceFields(file, 'ManifestCollection').map((f) => `collection ${f}`),
      ...interfaceFields(file, 'ManifestSegment').map((f) => `segment ${f}`),
    ];
    assertSameEntries(
      'manifest fields',
      rows.map((r) => `${r['in']} ${unquote(r['field'] ?? '')}`),
      declared,
    );
  });

  test('§1 lists every file kind: each magic, file name and directory of format.ts', () => {
    const rows = tableWith('1. ', 'magic');
    const files = rows.map((r) => unquote(r['file'] ?? ''));
    const exports = Object.entries(format);
    for (const [name, value] of exports) {
      if (name.endsWith('_MAGIC') && typeof value === 'number') {
        const row = rows.find((r) => unquote(r['magic'] ?? '') === hex(value));
        assert.ok(
          row !== undefined,
          `${name} (${hex(value)}) has no row in the FORMAT.md §1 table`,
        );
        const section = /§(\d+)/.exec(row['§'] ?? '')?.[1];
        const header = tablesUnder(`${section}. `).flat();
        assert.ok(
          header.some((r) => (r['field'] ?? '').includes(`magic \`${hex(value)}\``)),
          `${name}: FORMAT.md §${section} has no "magic \`${hex(value)}\`" row`,
        );
      }
      if (name.endsWith('_FILE') && typeof value === 'string') {
        assert.ok(files.includes(value), `${name} (${value}) has no row in the FORMAT.md §1 table`);
      }
      if (name.endsWith('_DIR') && typeof value === 'string') {
        assert.ok(
          files.some((f) => f.startsWith(`${value}/`)),
          `${name} (${value}/) has no row in the FORMAT.md §1 table`,
        );
      }
    }
    assert.ok(files.includes(`${format.WAL_DIR}/${format.walFileName(1)}`));
    assert.ok(files.includes(`${format.SEGMENT_DIR}/${format.segmentFileName(1)}`));
    assert.ok(files.includes(`${format.SEGMENT_DIR}/${format.tombstoneFileName(1, 2)}`));
  });

  test('§2.2 worked example is what the encoder writes', () => {
    const example = /Worked example:[^`]*`([0-9A-F |]+)`/.exec(DOC)?.[1];
    assert.ok(example !== undefined, 'FORMAT.md §2.2 has no worked example');
    const bytes = [...encodeWalRecord(1, 1, new Uint8Array(0))];
    const written = bytes.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
    assert.equal(example.replace(/ \| /g, ' '), written);
  });
});
