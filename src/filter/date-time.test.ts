/**
 * parseDateTime: exact instants for RFC 3339 and the looser forms Qdrant accepts, refusal of
 * everything else, and agreement with Date on random instants.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseDateTime } from './date-time.js';

const seed =
  process.env['QUIVER_SEED'] !== undefined
    ? Number(process.env['QUIVER_SEED'])
    : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
const numRuns = Number(process.env['QUIVER_RUNS'] ?? 1000);
console.log(`date-time property: QUIVER_SEED=${seed} QUIVER_RUNS=${numRuns} (set both to replay)`);

void describe('parseDateTime', () => {
  void test('RFC 3339 and the looser forms, all read as exact instants', () => {
    const noon = Date.UTC(2024, 2, 1, 12);
    assert.equal(parseDateTime('2024-03-01T12:00:00Z'), noon);
    assert.equal(parseDateTime('2024-03-01t12:00:00z'), noon);
    assert.equal(parseDateTime('2024-03-01T13:00:00+01:00'), noon);
    assert.equal(parseDateTime('2024-03-01T06:30:00-0530'), noon);
    assert.equal(parseDateTime('2024-03-01T12:00:00'), noon, 'no offset reads as UTC');
    assert.equal(parseDateTime('2024-03-01 12:00'), noon);
    assert.equal(parseDateTime('2024-03-01'), Date.UTC(2024, 2, 1));
    assert.equal(parseDateTime('2024-03-01T12:00:00.25Z'), noon + 250);
    assert.equal(parseDateTime('2024-03-01T12:00:00.000001Z'), noon + 0.001);
    assert.equal(parseDateTime('2024-02-29'), Date.UTC(2024, 1, 29));
    assert.equal(parseDateTime('0001-01-01'), Date.UTC(2000, 0, 1) - 730_119 * 86_400_000);
    assert.equal(parseDateTime('1969-12-31T23:59:59Z'), -1000);
  });

  void test('anything else is undefined, never a guess', () => {
    for (const text of [
      '',
      'yesterday',
      '2024',
      '2024-3-1',
      '2023-02-29',
      '2024-13-01',
      '2024-04-31',
      '2024-03-01T24:00:00Z',
      '2024-03-01T12:60:00Z',
      '2024-03-01T12:00:60Z',
      '2024-03-01T12:00:00+24:00',
      '2024-03-01T12:00:00 Z',
      '2024-03-01T12',
      ' 2024-03-01',
    ]) {
      assert.equal(parseDateTime(text), undefined, text);
    }
  });

  void test('agrees with Date on random instants and offsets', () => {
    const instant = fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_000 });
    const offset = fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 });
    fc.assert(
      fc.property(instant, offset, (ms, minutes) => {
        assert.equal(parseDateTime(new Date(ms).toISOString()), ms);
        const local = new Date(ms + minutes * 60_000).toISOString().slice(0, 23);
        const abs = Math.abs(minutes);
        const sign = minutes < 0 ? '-' : '+';
        const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        if (local.startsWith('-') || local.startsWith('+')) return;
        assert.equal(parseDateTime(`${local}${zone}`), ms);
      }),
      { seed, numRuns },
    );
  });
});
