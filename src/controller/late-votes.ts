/**
 * Late votes: those that came in after the quorum was decided (early decision), added to the
 * event's decision record once it is written, never changing the decision.
 *
 * A record the responder is about to update (the escalation of its page) is held: late votes that
 * come in meanwhile are put on the record object the responder writes, not written on their own,
 * so that the two updates are one round trip. Once released, late votes write themselves.
 */
import type { Logger } from 'pino';
import type { DecisionRecord } from '../records/decision.js';
import type { DecisionStore } from './decision-store.js';

type Late = Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>;

/** What the responder needs of the late votes: hold a record it will update, then let it go. */
export interface HeldRecords {
  /** The caller will write `record` soon (an update): late votes coming meanwhile go with it. */
  hold(record: DecisionRecord): void;
  /**
   * The caller writes `record` now (or will not at all): `true` when late votes were put on it
   * during the hold and are not written yet (the caller's write must carry them).
   */
  release(record: DecisionRecord): boolean;
}

export class LateVotes implements HeldRecords {
  /** Late votes of an event, waiting for its decision to be written. */
  readonly #expected = new Map<string, Late>();
  /** Late votes still being added to records; awaited on shutdown. */
  readonly #writes = new Set<Promise<void>>();
  /** Records another writer will update soon, and those of them that late votes were put on. */
  readonly #held = new WeakSet<DecisionRecord>();
  readonly #waiting = new WeakSet<DecisionRecord>();

  constructor(private readonly store: DecisionStore) {}

  /** Late votes that are in already, by event, until the decision is written or forgotten. */
  readonly #arrived = new Map<string, Awaited<Late>>();

  /** The event's votes still out, to be added to its record once it is written. */
  expect(eventId: string, late: Late): void {
    this.#expected.set(eventId, late);
    void late.then(
      (votes) => {
        if (this.#expected.get(eventId) === late) this.#arrived.set(eventId, votes);
      },
      () => undefined,
    );
  }

  /**
   * Late votes that are in before the decision is written go in its first write, not in an update
   * of their own: puts them on `decision` and forgets them; `false` when they are not all in yet.
   */
  takeArrived(decision: DecisionRecord): boolean {
    const arrived = this.#arrived.get(decision.event_id);
    if (arrived === undefined) return false;
    decision.late_votes = arrived.votes;
    decision.late_failures = arrived.failures;
    return true;
  }

  /** The event is not decided by this attempt (it failed): its late votes go nowhere. */
  forget(eventId: string): void {
    this.#expected.delete(eventId);
    this.#arrived.delete(eventId);
  }

  hold(record: DecisionRecord): void {
    this.#held.add(record);
  }

  release(record: DecisionRecord): boolean {
    this.#held.delete(record);
    return this.#waiting.delete(record);
  }

  /** The event's decision is written: its late votes, once they are in, are added to it. */
  written(decision: DecisionRecord, elog: Logger): void {
    const late = this.#expected.get(decision.event_id);
    this.#expected.delete(decision.event_id);
    // In the decision's own write already (takeArrived).
    if (this.#arrived.delete(decision.event_id) && decision.late_votes !== undefined) return;
    if (late === undefined) return;
    const write = late
      .then(async ({ votes, failures }) => {
        decision.late_votes = votes;
        decision.late_failures = failures;
        // The holder's update carries them (it is written from this very object).
        if (this.#held.has(decision)) {
          this.#waiting.add(decision);
          return;
        }
        await this.store.update(decision);
      })
      .catch((error: unknown) => elog.warn({ err: error }, 'late votes could not be added to the record'))
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /**
   * Lets go of a record that was held, writing the late votes put on it meanwhile (the holder did
   * not write it after all). Never rejects.
   */
  async settle(record: DecisionRecord, elog: Logger): Promise<void> {
    if (!this.release(record)) return;
    await this.store
      .update(record)
      .catch((error: unknown) => elog.warn({ err: error }, 'late votes could not be added to the record'));
  }

  /** Waits for the late votes still being recorded (clean shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.#writes]);
  }
}
