/**
 * CircuitBreaker (SPEC section 4): closed until `failureThreshold` consecutive failures,
 * open (writes refused with UNAVAILABLE) for `cooldownMs`, then half-open for exactly one
 * trial write whose outcome closes or re-opens it; the admin reset closes it at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuiverError } from '../common/quiver-error.js';
import { BREAKER_STATE_CODE, CircuitBreaker } from './circuit-breaker.js';

/** A breaker on a hand-moved clock: threshold 3, cool-down 1000 ms. */
function breakerAt(): { breaker: CircuitBreaker; clock: { now: number } } {
  const clock = { now: 10_000 };
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    cooldownMs: 1000,
    now: () => clock.now,
  });
  return { breaker, clock };
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.failure(new Error(`disk error ${i}`));
}

/** Asserts that `admit` refuses with UNAVAILABLE and returns the error's details. */
function refused(breaker: CircuitBreaker): Readonly<Record<string, unknown>> {
  try {
    breaker.admit();
  } catch (error) {
    assert.ok(isQuiverError(error));
    assert.equal(error.code, 'UNAVAILABLE');
    return error.details ?? {};
  }
  return assert.fail('admit let a write through');
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold, and a success clears the count', () => {
    const { breaker } = breakerAt();
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.admit(), false);
    breaker.success();
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().consecutiveFailures, 2);
  });

  it('opens at the threshold and refuses writes, saying when to retry', () => {
    const { breaker, clock } = breakerAt();
    fail(breaker, 3);
    assert.equal(breaker.state, 'open');
    clock.now += 400;
    assert.deepEqual(refused(breaker), { breaker: 'open', retryInMs: 600 });
    const snapshot = breaker.snapshot();
    assert.equal(snapshot.opens, 1);
    assert.equal(snapshot.openedAt, 10_000);
    assert.equal(snapshot.lastError, 'disk error 2');
  });

  it('turns half-open exactly when the cool-down ends', () => {
    const { breaker, clock } = breakerAt();
    fail(breaker, 3);
    clock.now += 999;
    assert.equal(breaker.state, 'open');
    clock.now += 1;
    assert.equal(breaker.state, 'half-open');
  });

  it('lets one trial through when half-open, and refuses the rest meanwhile', () => {
    const { breaker, clock } = breakerAt();
    fail(breaker, 3);
    clock.now += 1000;
    assert.equal(breaker.admit(), true);
    assert.equal(refused(breaker)['breaker'], 'half-open');
  });

  it('closes after a successful trial', () => {
    const { breaker, clock } = breakerAt();
    fail(breaker, 3);
    clock.now += 1000;
    breaker.admit();
    breaker.success();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.admit(), false);
  });

  it('re-opens after one failed trial, for another full cool-down', () => {
    const { breaker, clock } = breakerAt();
    fail(breaker, 3);
    clock.now += 1000;
    breaker.admit();
    fail(breaker, 1);
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.snapshot().opens, 2);
    assert.equal(breaker.snapshot().openedAt, 11_000);
    clock.now += 999;
    assert.equal(breaker.state, 'open');
  });

  it('does not count failures while open as new openings', () => {
    const { breaker } = breakerAt();
    fail(breaker, 6);
    assert.equal(breaker.snapshot().opens, 1);
  });

  it('closes at once on reset', () => {
    const { breaker } = breakerAt();
    fail(breaker, 3);
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.admit(), false);
    assert.equal(breaker.snapshot().consecutiveFailures, 0);
    assert.equal(breaker.snapshot().openedAt, undefined);
  });

  it('encodes its states for the metric as 0, 1 and 2', () => {
    assert.deepEqual(BREAKER_STATE_CODE, { closed: 0, open: 1, 'half-open': 2 });
  });
});
