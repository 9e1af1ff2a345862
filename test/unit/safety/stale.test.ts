import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isStale } from '../../../src/safety/stale.js';

const MAX_AGE = 300_000;
const SKEW = 30_000;
const NOW = 1_700_000_000_000;

describe('isStale', () => {
  test('a recent event is fresh, with its age', () => {
    assert.deepEqual(isStale(NOW - 1_000, NOW, MAX_AGE, SKEW), { stale: false, ageMs: 1_000 });
  });

  test('stale only past max age plus the skew tolerance; exactly that old is still fresh', () => {
    assert.deepEqual(isStale(NOW - MAX_AGE - SKEW, NOW, MAX_AGE, SKEW), {
      stale: false,
      ageMs: MAX_AGE + SKEW,
    });
    assert.deepEqual(isStale(NOW - MAX_AGE - SKEW - 1, NOW, MAX_AGE, SKEW), {
      stale: true,
      ageMs: MAX_AGE + SKEW + 1,
      reason: 'too_old',
    });
    // Between max age and max age + skew: the producer's clock may be behind ours.
    assert.equal(isStale(NOW - MAX_AGE - 1, NOW, MAX_AGE, SKEW).stale, false);
  });

  test('a future time within the tolerance is ordinary skew', () => {
    assert.deepEqual(isStale(NOW + SKEW, NOW, MAX_AGE, SKEW), { stale: false, ageMs: -SKEW });
  });

  test('a future time beyond the tolerance is reported, not stale', () => {
    assert.deepEqual(isStale(NOW + SKEW + 1, NOW, MAX_AGE, SKEW), {
      stale: false,
      ageMs: -SKEW - 1,
      reason: 'future',
    });
    assert.deepEqual(isStale(NOW + 86_400_000, NOW, MAX_AGE, SKEW), {
      stale: false,
      ageMs: -86_400_000,
      reason: 'future',
    });
  });

  test('a time that is not a number is reported, not stale', () => {
    assert.deepEqual(isStale(Number.NaN, NOW, MAX_AGE, SKEW), {
      stale: false,
      ageMs: Number.NaN,
      reason: 'invalid_time',
    });
  });

  test('property: stale iff older than max age + tolerance; future iff ahead by more than the tolerance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.integer({ min: 0, max: 1e8 }),
        fc.integer({ min: 0, max: 1e6 }),
        (age, maxAge, skew) => {
          const verdict = isStale(NOW - age, NOW, maxAge, skew);
          assert.equal(verdict.ageMs, age);
          assert.equal(verdict.stale, age > maxAge + skew);
          assert.equal(verdict.reason === 'future', age < -skew);
          if (age < 0) assert.equal(verdict.stale, false);
        },
      ),
    );
  });
});
