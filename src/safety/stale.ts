/**
 * The stale filter (DESIGN step 2): an event older than `max_event_age` is too old to act on.
 * Pure: the caller passes the event's time and its own clock.
 *
 * Producers' clocks differ from ours by up to `skewToleranceMs`, so an event is stale only when its
 * age is over `maxAgeMs + skewToleranceMs`: a fresh event from a producer whose clock is behind
 * ours is not thrown away. An age of exactly that much is still fresh.
 *
 * An event from the future by more than the tolerance is `stale: false, reason: 'future'`. Its
 * timestamp proves that the producer's clock is further off than we allow, so its real age cannot
 * be known: it may be a failure happening now, or an old one from a clock hours ahead. Calling it
 * stale would drop it (stale events are dropped), and silently losing a report of a failure that
 * may be going on is the worst outcome of the three, since nobody would look at it. Calling it
 * fresh would let a remediation run on an event whose age nobody can vouch for. So it is reported
 * and not judged: the caller should not act on it automatically but escalate it, which shows a
 * human both the event and the clock problem. Within the tolerance, a future time is ordinary skew
 * and the event is fresh.
 */

export type StaleReason = 'too_old' | 'future' | 'invalid_time';

export interface StaleVerdict {
  readonly stale: boolean;
  /** `nowMs - eventTimeMs`: negative for an event from the future. */
  readonly ageMs: number;
  /** Why the event is stale, or is fresh but suspicious (`future`, `invalid_time`). */
  readonly reason?: StaleReason;
}

export function isStale(
  eventTimeMs: number,
  nowMs: number,
  maxAgeMs: number,
  skewToleranceMs: number,
): StaleVerdict {
  const ageMs = nowMs - eventTimeMs;
  // A time that is not a number says nothing about the age; like the future, escalate, do not drop.
  if (!Number.isFinite(ageMs)) return { stale: false, ageMs, reason: 'invalid_time' };
  if (ageMs > maxAgeMs + skewToleranceMs) return { stale: true, ageMs, reason: 'too_old' };
  if (-ageMs > skewToleranceMs) return { stale: false, ageMs, reason: 'future' };
  return { stale: false, ageMs };
}
