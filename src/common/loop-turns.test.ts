/**
 * LoopTurns: one slice per turn of the event loop however many tasks wait, handed out in
 * the order they were asked for; a timer that falls due between two slices runs between
 * them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoopTurns } from './loop-turns.js';

/** Holds the thread for `ms`, as a slice of graph linking does. */
function busy(ms: number): void {
  const t0 = performance.now();
  while (performance.now() - t0 < ms);
}

describe('LoopTurns', () => {
  it('lets the loop run its timers between any two slices of three tasks', async () => {
    const turns = new LoopTurns();
    let ticks = 0;
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const slices: { task: number; ticks: number }[] = [];
    const task = async (n: number): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        await turns.take();
        slices.push({ task: n, ticks });
        busy(2); // past the timer's 1 ms: it is due before the next slice
      }
    };
    await Promise.all([task(0), task(1), task(2)]);
    ticking = false;
    assert.equal(slices.length, 15);
    for (let i = 1; i < slices.length; i++) {
      assert.ok(
        slices[i]!.ticks > slices[i - 1]!.ticks,
        `slice ${i} (task ${slices[i]!.task}) ran in the same turn as slice ${i - 1}`,
      );
    }
    // Round robin: each task's slices alternate with the others'.
    assert.deepEqual(
      slices.slice(0, 6).map((s) => s.task),
      [0, 1, 2, 0, 1, 2],
    );
  });

  it('hands out turns in the order they were asked for, and counts who waits', async () => {
    const turns = new LoopTurns();
    const order: number[] = [];
    const all = [0, 1, 2, 3].map((n) => turns.take().then(() => order.push(n)));
    assert.equal(turns.queued, 4);
    await Promise.all(all);
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.equal(turns.queued, 0);
  });
});
