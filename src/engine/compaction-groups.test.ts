/**
 * Compaction groups (fast-check over segment sizes): an explicit compaction's groups take
 * every segment exactly once, stay within the target where the sizes allow, and leave no
 * two groups that could have been one; an automatic merge takes at least two segments,
 * builds on the largest under the target and stays within it when anything fits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { mergeGroup, packGroups } from './compaction-groups.js';

const sizes = fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 30 });
const target = fc.integer({ min: 1, max: 2500 });
const segmentsOf = (xs: number[]) => xs.map((liveCount, i) => ({ liveCount, i }));
const sum = (g: readonly { liveCount: number }[]) => g.reduce((n, s) => n + s.liveCount, 0);

describe('compaction groups', () => {
  it('packGroups: every segment once, groups within the target, none mergeable', () => {
    fc.assert(
      fc.property(sizes, target, (xs, t) => {
        const segs = segmentsOf(xs);
        const groups = packGroups(segs, t);
        const seen = groups.flat().map((s) => s.i);
        assert.deepEqual(
          [...seen].sort((a, b) => a - b),
          segs.map((s) => s.i),
        );
        for (const g of groups) {
          assert.ok(g.length >= 1);
          if (g.length > 1) assert.ok(sum(g) <= t, `group of ${g.length} holds ${sum(g)} > ${t}`);
        }
        const totals = groups.map(sum).sort((a, b) => a - b);
        if (totals.length >= 2) assert.ok(totals[0]! + totals[1]! > t, 'two groups fit in one');
      }),
      { numRuns: 300 },
    );
  });

  it('mergeGroup: two or more, on the largest under the target, within it when possible', () => {
    fc.assert(
      fc.property(sizes, target, (xs, t) => {
        const segs = segmentsOf(xs);
        const group = mergeGroup(segs, t);
        assert.ok(group.length >= 2);
        assert.equal(new Set(group).size, group.length);
        const under = segs.filter((s) => s.liveCount < t);
        const base = Math.max(...under.map((s) => s.liveCount));
        const baseSeg = under.find((s) => s.liveCount === base);
        const smallest = Math.min(...segs.filter((s) => s !== baseSeg).map((s) => s.liveCount));
        if (baseSeg !== undefined && base + smallest <= t) {
          assert.equal(group[0]!.liveCount, base, 'built on the largest under the target');
          assert.ok(sum(group) <= t);
        } else {
          const two = [...xs].sort((a, b) => a - b).slice(0, 2);
          assert.deepEqual(
            group.map((s) => s.liveCount).sort((a, b) => a - b),
            two,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
