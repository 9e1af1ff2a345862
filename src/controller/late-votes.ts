/**
 * Late votes: those that came in after the quorum was decided (early decision), added to the
 * event's decision record once it is written, never changing the decision.
 *
 * A record the responder is about to update (the escalation of its page) is held: late votes that
 * come in meanwhile are put on the record object the responder writes, not written on their own,
 * so that the two updates are one round trip. Once released, or after HOLD_MS whatever the holder
 * does (and at once on shutdown), late votes write themselves.
 */
import type { Logger } from 'pino';
import type { DecisionRecord } from '../records/decision.js';
import type { DecisionStore } from './decision-store.js';

/**
 * How long late votes wait for the holder's update to carry them: the page's escalation is a
 * PagerDuty call or two (it may wait for the request budget far longer; then they go alone).
 */
export const HOLD_MS = 2000;

type Late = Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>;

/** What the responder needs of the late votes: hold a record it will update, then let it go. */
export interface HeldRecords {
  /** The caller will write `record` soon (an update): late votes coming meanwhile go with it. */
  hold(record: DecisionRecord): void;
  /**
   * The caller writes `record` now: `true` when late votes were put on it during the hold and are
   * not written yet (the caller's write must carry them).
   */
  release(record: DecisionRecord): boolean;
  /** The caller will not write `record` after all: late votes put on it are written on their own. */
  letGo(record: DecisionRecord): void;
}

export class LateVotes implements HeldRecords {
  /** Late votes of an event, waiting for its decision to be written. */
  readonly #expected = new Map<string, Late>();
  /** Late votes still being added to records; awaited on shutdown. */
  readonly #writes = new Set<Promise<void>>();
  /** Records another writer will update soon. */
  readonly #held = new WeakSet<DecisionRecord>();
  /** Held records that late votes were put on, each with what tells its waiting write (see written). */
  readonly #waiting = new Map<DecisionRecord, (carried: boolean) => void>();

  constructor(
    private readonly store: DecisionStore,
    /** How long late votes wait for a holder (tests shorten it). @defaultValue HOLD_MS */
    private readonly holdMs = HOLD_MS,
  ) {}

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
    const waiting = this.#waiting.get(record);
    if (waiting === undefined) return false;
    this.#waiting.delete(record);
    waiting(true);
    return true;
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
        // The holder's update carries them (it is written from this very object), if it comes
        // within HOLD_MS; otherwise (a slow page, a stop, a holder that failed) they are written here.
        if (this.#held.has(decision) && (await this.#heldFor(decision))) return;
        await this.store.update(decision);
      })
      .catch((error: unknown) => elog.warn({ err: error }, 'late votes could not be added to the record'))
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /** `true` when the holder's write carries the record (it released it within HOLD_MS). */
  #heldFor(record: DecisionRecord): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(record);
        this.#held.delete(record);
        resolve(false);
      }, this.holdMs);
      this.#waiting.set(record, (carried) => {
        clearTimeout(timer);
        resolve(carried);
      });
    });
  }

  letGo(record: DecisionRecord): void {
    this.#held.delete(record);
    const waiting = this.#waiting.get(record);
    this.#waiting.delete(record);
    waiting?.(false);
  }

  /** Held records waiting for their holder are written now (shutdown: nobody waits longer). */
  #releaseAll(): void {
    for (const [record, waiting] of [...this.#waiting]) {
      this.#waiting.delete(record);
      this.#held.delete(record);
      waiting(false);
    }
  }

  /** Writes the late votes still to be recorded, held ones included (clean shutdown). */
  async flush(): Promise<void> {
    this.#releaseAll();
    await Promise.all([...this.#writes]);
  }
}
