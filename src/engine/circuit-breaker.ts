/**
 * CircuitBreaker: after repeated WAL I/O failures, writes fail fast with UNAVAILABLE for
 * a cool-down instead of hammering a sick disk; then one trial write is let through
 * (half-open) and its outcome closes or re-opens the breaker (SPEC section 4).
 */
import { QuiverError } from '../common/quiver-error.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Metric encoding of the state: 0 closed, 1 open, 2 half-open (SPEC section 6). */
export const BREAKER_STATE_CODE: Readonly<Record<BreakerState, number>> = Object.freeze({
  closed: 0,
  open: 1,
  'half-open': 2,
});

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  readonly failureThreshold?: number;
  /** How long it stays open before a trial, in ms. Default 60 000. */
  readonly cooldownMs?: number;
  readonly now?: () => number;
}

export interface BreakerSnapshot {
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  readonly opens: number;
  readonly openedAt: number | undefined;
  readonly lastError: string | undefined;
}

export class CircuitBreaker {
  private state_: BreakerState = 'closed';
  private failures = 0;
  private opens = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;
  private lastError: string | undefined;
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;

  constructor(options: BreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.state_ === 'open' && this.now() - (this.openedAt ?? 0) >= this.cooldownMs) {
      this.state_ = 'half-open';
    }
    return this.state_;
  }

  /**
   * Called before a write. Throws UNAVAILABLE while open (or while a half-open trial is in
   * flight); returns true when this write is the half-open trial.
   */
  admit(): boolean {
    const state = this.state;
    if (state === 'closed') return false;
    if (state === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return true;
    }
    const retryIn = Math.max(0, this.cooldownMs - (this.now() - (this.openedAt ?? 0)));
    throw new QuiverError(
      'UNAVAILABLE',
      `Writes are paused: the write-ahead log failed ${this.threshold} times in a row (last: ${this.lastError ?? 'unknown'}). Retry in ${Math.ceil(retryIn / 1000)} s, fix the disk, or reset the circuit breaker.`,
      { breaker: state, retryInMs: retryIn },
    );
  }

  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
    this.state_ = 'closed';
  }

  failure(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
    this.failures++;
    const wasTrial = this.trialInFlight;
    this.trialInFlight = false;
    if (wasTrial || this.failures >= this.threshold) {
      if (this.state_ !== 'open') this.opens++;
      this.state_ = 'open';
      this.openedAt = this.now();
    }
  }

  /** Closes the breaker now (the admin reset). */
  reset(): void {
    this.failures = 0;
    this.trialInFlight = false;
    this.state_ = 'closed';
    this.openedAt = undefined;
  }

  snapshot(): BreakerSnapshot {
    return {
      state: this.state,
      consecutiveFailures: this.failures,
      opens: this.opens,
      openedAt: this.openedAt,
      lastError: this.lastError,
    };
  }
}
