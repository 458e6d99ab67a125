/**
 * Deleted share: the one definition of how much of a collection's stored data is dead, used
 * by db.stats(), `quiver stats`, GET /stats, the compaction trigger and compact's report.
 *
 * deleted share = dead slots / all slots, over segment files, where a slot is dead when its
 * point was deleted or replaced by a newer write (a tombstone, or a hole that was already
 * dead when the segment was sealed). Both kinds cost disk and memory until compaction
 * rewrites the segment, which is what an operator watching this figure wants to know. The
 * growing segment is not counted: it is not in a file yet (its dead slots count from the
 * checkpoint that seals it), and counting it would make the tools that read files disagree
 * with the engine.
 */

/** Slots of one segment file and how many of them hold a live point. */
export interface SlotCount {
  readonly slots: number;
  readonly live: number;
}

/** The deleted share of `segments` taken together: 0 when they hold no slot. */
export function deletedShare(segments: Iterable<SlotCount>): number {
  let slots = 0;
  let live = 0;
  for (const s of segments) {
    slots += s.slots;
    live += s.live;
  }
  return slots === 0 ? 0 : (slots - live) / slots;
}
