/**
 * The decisions made while Redis was away. Fail safe: nothing is acted on without Redis, so the
 * event escalates (`dependency_down`) and its decision is kept here until it can be written; the
 * batch is retried, so the checkpoint waits for it. A decision that can never be written (its
 * record cannot be serialised, the script refuses it) is not retried for ever: its event is set
 * aside.
 */
import type { Logger } from 'pino';
import { DependencyErrorCodes, isRetryable } from '../common/dependency.js';
import { LzError } from '../common/errors.js';
import type { LzEvent } from '../events/schema.js';
import type { StreamRecord } from '../ingest/stream-record.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DecisionRecord } from '../records/decision.js';
import type { ResourceLocks } from '../safety/lock.js';
import type { DecisionStore } from './decision-store.js';
import { escalation } from './draft.js';
import type { RecordBuilder } from './draft.js';
import { releaseLeft, releaseQuietly } from './event-attempt.js';
import type { EventAttempt, Left } from './event-attempt.js';
import type { Responder } from './responder.js';
import type { Handled, SetAside } from './set-aside.js';

/** A decision kept until Redis answers, with the attempt that made it and the locks it had taken. */
interface Parked {
  readonly attempt: EventAttempt;
  readonly decision: DecisionRecord;
  /** Released again once Redis answers (fenced by token: a no-op for those already freed). */
  readonly left: Left;
}

export interface OutboxOptions {
  readonly store: DecisionStore;
  readonly locks: ResourceLocks;
  readonly builder: RecordBuilder;
  readonly setAside: SetAside;
  readonly node: string;
  readonly responder?: Responder;
  readonly metrics?: Metrics;
}

export class Outbox {
  readonly #parked = new Map<string, Parked>();

  constructor(private readonly o: OutboxOptions) {}

  /** Whether the event has a decision waiting here. */
  has(eventId: string): boolean {
    return this.#parked.has(eventId);
  }

  /**
   * Parks the event's `dependency_down` decision and tries to write it at once (it rejects while
   * Redis is still away: the batch is retried). When the event is this node's to decide (its claim
   * was won), its page is escalated now, not once Redis is back, so that the humans hear of it in
   * time; otherwise it may have been decided before Redis went away (a retried batch), and its page
   * is left alone until the write shows that this is its decision.
   */
  async park(
    record: StreamRecord,
    event: LzEvent,
    error: unknown,
    attempt: EventAttempt,
    page: DecisionRecord['page'],
    left: Left,
    elog: Logger,
  ): Promise<Handled> {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof LzError && error.code === DependencyErrorCodes.DEPENDENCY_DOWN)
      this.o.metrics?.redisError('decide');
    const decision = this.o.builder.build(
      record,
      event,
      escalation('dependency_down', message, page),
      attempt.earlier,
    );
    attempt.park();
    this.#parked.set(event.id, { attempt, decision, left });
    if (attempt.claimed) this.o.responder?.afterDecision(decision, undefined);
    elog.error(
      { decision: 'escalate', reason: 'dependency_down', err: error },
      `escalate: dependency_down (${message})`,
    );
    return this.write(event.id, record, elog);
  }

  /** Writes the event's parked decision (see `park`). Rejects while Redis is still away. */
  async write(eventId: string, record: StreamRecord, elog: Logger): Promise<Handled> {
    const parked = this.#parked.get(eventId);
    if (parked === undefined) return 'decided';
    const { attempt, decision } = parked;
    const unannounced = !attempt.claimed;
    let taken: Awaited<ReturnType<EventAttempt['writeParked']>>;
    try {
      taken = await attempt.writeParked(decision);
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.#parked.delete(eventId);
      await this.#release(parked, elog);
      return this.o.setAside.event(record, decision.event, error, attempt, decision.page, elog);
    }
    this.#parked.delete(eventId);
    await this.#release(parked, elog);
    const { written, attempt: found } = taken;
    if (!written && (await this.o.store.get(eventId))?.coordinator.node === this.o.node) {
      // This node's own earlier write of the event (its reply lost) is what is stored: nothing acted
      // on it (its lock is freed above, its page was answered for), so its attempt record goes.
      elog.warn('an earlier write of this decision by this node is what is stored; its reply was lost');
      await attempt.clearQuietly(elog);
    }
    if (!written) return 'decided';
    elog.info(
      { decision: decision.decision, reason: decision.reason },
      'dependency_down decision recorded now that Redis answers',
    );
    this.o.metrics?.recordDecision(decision);
    // What an attempt at the event had taken (an earlier one that died, unread when this node
    // could not claim): nothing acts, so its lock is freed, and its page is this decision's.
    if (found?.lock !== undefined) await releaseQuietly(this.o.locks.held(found.lock), elog);
    const answered =
      unannounced && found !== undefined && decision.earlier_attempt === undefined
        ? { ...decision, earlier_attempt: found }
        : decision;
    if (answered !== decision)
      await this.o.store.update(answered).catch((error: unknown) => {
        elog.warn({ err: error }, 'the earlier attempt could not be added to the decision record');
      });
    if (unannounced) this.o.responder?.afterDecision(answered, undefined);
    await attempt.clearQuietly(elog);
    return 'decided';
  }

  async #release(parked: Parked, elog: Logger): Promise<void> {
    await releaseLeft(this.o.locks, parked.left, elog);
  }
}
