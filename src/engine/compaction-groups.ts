/**
 * Which sealed segments compaction merges together, by size: an automatic merge grows the
 * largest segment under the target size, an explicit one packs every segment into groups
 * within it. Pure functions of the segments' live counts.
 */

/** What the grouping reads of a segment. */
export interface Sized {
  readonly liveCount: number;
}

/**
 * The segments one automatic merge takes: the largest segment under `target` live points,
 * then the smallest others while the total stays within it. Building on the largest keeps
 * most of the work (its graph is copied, not rebuilt); growing it toward the target keeps
 * the number of graphs a search walks small. When nothing fits beside it, the two smallest.
 */
export function mergeGroup<S extends Sized>(segments: readonly S[], target: number): S[] {
  const bySize = [...segments].sort((a, b) => a.liveCount - b.liveCount);
  const under = bySize.filter((s) => s.liveCount < target);
  const base = under[under.length - 1];
  if (base !== undefined) {
    const group = [base];
    let total = base.liveCount;
    for (const s of bySize) {
      if (s === base) continue;
      if (total + s.liveCount > target) break;
      group.push(s);
      total += s.liveCount;
    }
    if (group.length > 1) return group;
  }
  return bySize.slice(0, 2);
}

/**
 * An explicit compaction's groups: every segment in exactly one group of at most `target`
 * live points where the sizes allow (largest first, each group filled with the smallest
 * segments that still fit), so a collection of N points ends as about N / target graphs.
 */
export function packGroups<S extends Sized>(segments: readonly S[], target: number): S[][] {
  const left = [...segments].sort((a, b) => a.liveCount - b.liveCount);
  const groups: S[][] = [];
  while (left.length > 0) {
    const group = [left.pop()!];
    let total = group[0]!.liveCount;
    while (left.length > 0 && total + left[0]!.liveCount <= target) {
      total += left[0]!.liveCount;
      group.push(left.shift()!);
    }
    groups.push(group);
  }
  return groups;
}
