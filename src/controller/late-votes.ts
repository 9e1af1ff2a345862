/**
 * Late votes: those that came in after the quorum was decided (early decision), added to the
 * event's decision record once it is written, never changing the decision.
 */
import type { Logger } from 'pino';
import type { DecisionRecord } from '../records/decision.js';
import type { DecisionStore } from './decision-store.js';

type Late = Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>;

export class LateVotes {
  /** Late votes of an event, waiting for its decision to be written. */
  readonly #expected = new Map<string, Late>();
  /** Late votes still being added to records; awaited on shutdown. */
  readonly #writes = new Set<Promise<void>>();

  constructor(private readonly store: DecisionStore) {}

  /** The event's votes still out, to be added to its record once it is written. */
  expect(eventId: string, late: Late): void {
    this.#expected.set(eventId, late);
  }

  /** The event is not decided by this attempt (it failed): its late votes go nowhere. */
  forget(eventId: string): void {
    this.#expected.delete(eventId);
  }

  /** The event's decision is written: its late votes, once they are in, are added to it. */
  written(decision: DecisionRecord, elog: Logger): void {
    const late = this.#expected.get(decision.event_id);
    this.#expected.delete(decision.event_id);
    if (late === undefined) return;
    const write = late
      .then(async ({ votes, failures }) => {
        decision.late_votes = votes;
        decision.late_failures = failures;
        await this.store.update(decision);
      })
      .catch((error: unknown) => elog.warn({ err: error }, 'late votes could not be added to the record'))
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /** Waits for the late votes still being recorded (clean shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.#writes]);
  }
}
