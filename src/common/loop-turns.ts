/**
 * LoopTurns: background work shares the event loop one slice per turn. Every task that
 * links graph vectors or encodes codes in slices waits here for its turn, so one turn of
 * the event loop runs one slice, however many segments (or databases in one process) have
 * work waiting: what the loop owes its I/O (a write's acknowledgement, a replica's next
 * message, a search request) waits for one slice, not one slice per waiting task.
 */

export class LoopTurns {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  /**
   * Resolves when it is the caller's turn: at a later turn of the event loop than the
   * call, after the callers already waiting. The caller then runs one slice.
   */
  take(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  /** Callers waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * One setImmediate at a time, handing out one turn: an immediate queued while
   * immediates run waits for the next turn of the loop, after its timers and I/O. The
   * caller resolved here runs its slice in this turn's microtasks and queues again.
   */
  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.waiting.shift()?.();
      this.schedule();
    });
  }
}

/** The process's turns (each worker thread has its own, with its own event loop). */
export const backgroundTurns = new LoopTurns();
