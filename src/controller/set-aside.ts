/**
 * Records that are not events, and events that cannot be processed: recorded and set aside, so
 * that their shard moves on; nothing is acted on.
 */
import type { Logger } from 'pino';
import { DependencyErrorCodes, isRetryable } from '../common/dependency.js';
import { LzError } from '../common/errors.js';
import { EventErrorCodes } from '../events/errors.js';
import type { Rejection } from '../events/parse.js';
import type { LzEvent } from '../events/schema.js';
import type { StreamRecord } from '../ingest/stream-record.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DecisionRecord } from '../records/decision.js';
import { REJECTED_RAW_CAP } from './decision-store.js';
import type { DecisionStore } from './decision-store.js';
import type { RecordBuilder } from './draft.js';
import { escalation } from './draft.js';
import type { EventAttempt } from './event-attempt.js';
import type { Responder } from './responder.js';

export type Handled = 'rejected' | 'already_decided' | 'decided';

export interface SetAsideOptions {
  readonly store: DecisionStore;
  readonly builder: RecordBuilder;
  readonly node: string;
  readonly now: () => number;
  readonly responder?: Responder;
  readonly metrics?: Metrics;
}

export class SetAside {
  constructor(private readonly o: SetAsideOptions) {}

  /**
   * 1. A record that is not an event: recorded once per shard and sequence (and KPL sub-sequence,
   * and item of a sensor's payload), and skipped.
   */
  async reject(record: StreamRecord, rejection: Rejection, log: Logger, sensor?: string): Promise<Handled> {
    const sub = record.subSequence === undefined ? {} : { sub_sequence: record.subSequence };
    const recorded = await this.o.store.reject({
      shard: record.shardId,
      sequence: record.sequenceNumber,
      ...sub,
      ...(record.item === undefined ? {} : { item: record.item }),
      ...(sensor === undefined ? {} : { sensor }),
      code: rejection.code,
      message: rejection.message,
      errors: rejection.errors,
      size: record.data.byteLength,
      raw: Buffer.from(record.data.subarray(0, REJECTED_RAW_CAP)).toString('base64'),
      node: this.o.node,
      at: new Date(this.o.now()).toISOString(),
    });
    if (recorded) {
      this.o.metrics?.eventRejected(rejection.code);
      log.warn(
        {
          shard: record.shardId,
          sequence: record.sequenceNumber,
          ...sub,
          item: record.item,
          code: rejection.code,
        },
        `record rejected: ${rejection.message}`,
      );
    }
    return 'rejected';
  }

  /** 1. A Kinesis record the reader could not unpack (a broken KPL aggregate, or a user record of one). */
  unreadable(record: StreamRecord, reason: string, log: Logger): Promise<Handled> {
    return this.reject(record, { code: EventErrorCodes.BAD_AGGREGATE, message: reason, errors: [] }, log);
  }

  /**
   * An event that cannot be processed (a step threw an error that is no dependency's failure: the
   * same record would fail the same way each time it is read) is set aside so that its shard moves
   * on. Nothing acts on it (the attempt let go of its locks).
   *
   * When the event is this node's to decide (it holds the claim), its decision is written, without
   * the event's data (whose shape may be what failed): `escalate`, reason `unprocessable`, with the
   * error and the record's first bytes in `set_aside`. That answers a redelivery ("already
   * decided") and frees the claim, and the page goes to the humans now, as for any escalation (one
   * that this attempt or an earlier one acknowledged, whatever its state). Otherwise (not claimed,
   * a decision parked while Redis was away, or that write refused too) it is a rejected record with
   * the error, as a record that is not an event is.
   */
  async event(
    record: StreamRecord,
    event: LzEvent,
    error: unknown,
    attempt: EventAttempt,
    page: DecisionRecord['page'],
    elog: Logger,
  ): Promise<Handled> {
    const message = error instanceof Error ? error.message : String(error);
    const parked = attempt.phase === 'parked';
    this.o.metrics?.eventRejected(EventErrorCodes.UNPROCESSABLE);
    elog.error(
      { err: error, shard: record.shardId, sequence: record.sequenceNumber },
      `event set aside, nothing acted on: it could not be ${parked ? 'recorded' : 'processed'} (${message})`,
    );
    const raw = Buffer.from(record.data.subarray(0, REJECTED_RAW_CAP)).toString('base64');
    // Without its data, whose shape may be what failed. Should even that fail, a rejected record.
    const decision = this.o.builder.tryBuild(
      record,
      { ...event, data: {} },
      escalation('unprocessable', `${EventErrorCodes.UNPROCESSABLE}: ${message}`, page),
      attempt.earlier,
    );
    if (decision !== undefined && attempt.claimed && !parked) {
      const aside = {
        ...decision,
        set_aside: { code: EventErrorCodes.UNPROCESSABLE, raw, size: record.data.byteLength },
      };
      const written = await attempt.decideSetAside(aside).catch((again: unknown) => {
        if (isRetryable(again)) throw again;
        elog.error(
          { err: again },
          'the set-aside decision could not be written either; recording the record as rejected',
        );
        return undefined;
      });
      if (written === false) return 'already_decided';
      if (written === true) {
        await attempt.clearQuietly(elog);
        this.o.metrics?.recordDecision(aside);
        this.o.responder?.afterDecision(aside, undefined);
        return 'decided';
      }
      // Its page goes to the humans all the same. (A parked decision's page was escalated when it
      // parked, or is not this node's to answer for.)
      this.o.responder?.afterDecision(decision, undefined);
    }
    const rejected = await this.reject(
      record,
      {
        code: EventErrorCodes.UNPROCESSABLE,
        message: `event ${event.id} could not be ${parked ? 'recorded' : 'processed'}, so nothing was done: ${message}`,
        errors: [{ path: '', message }],
      },
      elog,
    ).catch((refused: unknown) => {
      // The last way to set it aside: if Redis refuses even this, it is Redis', tried again later.
      if (isRetryable(refused)) throw refused;
      throw new LzError(
        DependencyErrorCodes.DEPENDENCY_DOWN,
        `the rejected record could not be written: ${String(refused)}`,
        { retryable: true, cause: refused },
      );
    });
    if (attempt.phase !== 'set_aside') attempt.setAside();
    await attempt.clearQuietly(elog);
    return rejected;
  }
}
