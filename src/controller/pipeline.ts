/**
 * One event's way through the cluster, in the order of DESIGN.md. Each step is a call into its own
 * module; this file only walks the event through them, top to bottom.
 *
 *   1 parse + validate     bad input: recorded and set aside; the checkpoint moves on (set-aside.ts)
 *   3a claim               decided once, whichever node reads it and however often (event-attempt.ts)
 *   2 stale filter         older than max_event_age: escalate (stale)             } gate-verdicts.ts
 *   3b dedup               same (service, resource, type, data) within dedup_window: folded into the
 *                          first one's decision (duplicate)
 *     count                every event counts toward the rate-limit and breaker windows before any
 *                          gate is asked, so that a storm is seen even while it is being escalated
 *   4 rule match           no rule: escalate (no_rule)
 *   5 safety gates         breaker open: escalate (breaker_open); over the service's rate limit:
 *                          escalate (rate_limited); remediated moments ago (recently_remediated)
 *   6 quorum checks        every node runs the rule's checks; `quorum` passing votes, or escalate
 *                          (voters.ts; late votes: late-votes.ts)
 *   7 resource lock        held by another remediation: escalate (lock_held) (event-attempt.ts)
 *   8 page                 the attempt is recorded, then the event's page acknowledged; when it
 *                          cannot be: escalate, lock released (acknowledge.ts)
 *  10 record               the decision, with every gate, vote and check, written once per event id
 *                          (draft.ts builds it, event-attempt.ts writes it)
 *   9 workflow             the rule's workflow is dispatched once the `act` decision is durable
 *                          (dispatch.ts)
 *  11 checkpoint           (the shard reader) only after every decision of the batch is durable
 *
 * Fail safe: when Redis cannot be reached at any step, the event escalates (dependency_down) and
 * nothing is acted on; the decision is kept in the outbox and written once Redis answers again
 * (outbox.ts). After the record, the responder escalates the page of an `escalate` decision and
 * tells people, in the background: neither PagerDuty nor a chat service ever holds up a shard.
 */
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { isRetryable } from '../common/dependency.js';
import type { CompiledConfig, CompiledRule } from '../config/types.js';
import { parseEvent } from '../events/parse.js';
import { SensorErrorCodes } from '../sensors/errors.js';
import { expandRecord } from '../sensors/expand.js';
import type { Expansion } from '../sensors/expand.js';
import { mappingsFrom } from '../sensors/mapping.js';
import type { InstanceLookup, SensorMappings } from '../sensors/types.js';
import type { LzEvent } from '../events/schema.js';
import type { StreamRecord } from '../ingest/stream-record.js';
import type { Matcher } from '../matching/matcher.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DecisionRecord } from '../records/decision.js';
import { lockResource } from '../safety/lock.js';
import { acknowledgePage } from './acknowledge.js';
import type { DecisionStore } from './decision-store.js';
import { holdMs } from './dispatch.js';
import { claimLost, logDecision, RecordBuilder } from './draft.js';
import type { Draft } from './draft.js';
import { EventAttempt, releaseLeft } from './event-attempt.js';
import type { AttemptDeps } from './event-attempt.js';
import { GateVerdicts } from './gate-verdicts.js';
import type { SafetyGates } from './gate-verdicts.js';
import { inLanes, KeyOrder, OneAtATime } from './lanes.js';
import { LateVotes } from './late-votes.js';
import { Outbox } from './outbox.js';
import type { Responder } from './responder.js';
import { SetAside } from './set-aside.js';
import type { Handled } from './set-aside.js';
import { castVotes } from './voters.js';
import type { VotersOf } from './voters.js';

export type { Handled, SafetyGates };

/** Where an `act` decision's workflow goes (dispatch.ts's `WorkflowDispatch`). */
export interface WorkflowPort {
  /** 9. Dispatches the rule's workflow once the `act` decision is durable. */
  dispatch(decision: DecisionRecord, rule: CompiledRule, event: LzEvent): Promise<void>;
  /** The dispatch failed: the workflow may not have started; the page goes back unless it runs. */
  notStarted(decision: DecisionRecord, error: string): Promise<void>;
}

export interface PipelineOptions {
  readonly config: CompiledConfig;
  readonly matcher: Matcher;
  readonly store: DecisionStore;
  readonly gates: SafetyGates;
  readonly node: { readonly id: string; readonly zone: string };
  /** This node's vote and each peer's, for an event and the rule's checks. */
  readonly voters: VotersOf;
  readonly log: Logger;
  /** The host an EC2 instance is (the inventory's `instance_id`s), for AWS events. */
  readonly instances?: InstanceLookup;
  /** Events of one batch handled at once (events of one host stay in order). @defaultValue 32 */
  readonly concurrency?: number;
  /** The clock, for tests. @defaultValue Date.now */
  readonly now?: () => number;
  /** Waits between looks at a claim another node holds, for tests. @defaultValue setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** 8. Acknowledges pages; escalates and notifies after decisions. Absent: no paging (tests). */
  readonly responder?: Responder;
  readonly metrics?: Metrics;
  /** 9. Absent: decisions are recorded and nothing runs (tests). */
  readonly workflows?: WorkflowPort;
  /** The late votes, shared with the responder (it holds the records it updates). @defaultValue its own */
  readonly late?: LateVotes;
}

export class Pipeline {
  private readonly limit;
  /** Records about one host in stream order, across the batches of a shard in hand at once. */
  private readonly order = new KeyOrder();
  private readonly now: () => number;
  private readonly attempts: AttemptDeps;
  private readonly builder: RecordBuilder;
  private readonly verdicts: GateVerdicts;
  private readonly late: LateVotes;
  private readonly outbox: Outbox;
  private readonly aside: SetAside;
  private readonly mappings: SensorMappings;
  private readonly services: ReadonlySet<string>;
  /** One handling of an event at a time in this process. */
  private readonly handling = new OneAtATime<Handled>('decided');

  constructor(private readonly o: PipelineOptions) {
    this.limit = pLimit(o.concurrency ?? 32);
    this.now = o.now ?? Date.now;
    const t = o.config.region.thresholds;
    this.attempts = {
      store: o.store,
      locks: o.gates.locks,
      node: o.node.id,
      // Outlives the vote (its deadline), the acknowledgement of the page (its budget) and the write
      // of the decision, with room to spare.
      claimTtlMs: 2 * t.voteTimeoutMs + 1000 + (o.config.region.pagerduty?.budgetMs ?? 0),
      now: this.now,
      ...(o.sleep === undefined ? {} : { sleep: o.sleep }),
    };
    this.builder = new RecordBuilder(o.config, o.node, this.now);
    this.mappings = mappingsFrom(o.config.region.sensors);
    this.services = new Set(o.config.services.keys());
    this.verdicts = new GateVerdicts(o.config, o.matcher, o.gates, this.now);
    this.late = o.late ?? new LateVotes(o.store);
    const reporting = {
      ...(o.responder === undefined ? {} : { responder: o.responder }),
      ...(o.metrics === undefined ? {} : { metrics: o.metrics }),
    };
    this.aside = new SetAside({
      store: o.store,
      builder: this.builder,
      node: o.node.id,
      now: this.now,
      ...reporting,
    });
    this.outbox = new Outbox({
      store: o.store,
      locks: o.gates.locks,
      builder: this.builder,
      setAside: this.aside,
      node: o.node.id,
      ...reporting,
    });
  }

  /** Every record of a batch gets a durable outcome; rejects if any cannot (the batch is retried). */
  handleBatch(records: readonly StreamRecord[]): Promise<Handled[]> {
    return inLanes(records, this.limit, (record) => this.handle(record), 'rejected', this.order);
  }

  async handle(record: StreamRecord): Promise<Handled> {
    this.o.metrics?.eventReceived();
    // A KPL aggregate the reader could not unpack is rejected as it came.
    if (record.unreadable !== undefined) return this.aside.unreadable(record, record.unreadable, this.o.log);
    // 0. a sensor's payload (a webhook the REST API took, an AWS event): its items, one by one.
    const expanded = await expandRecord(record.data, {
      mappings: this.mappings,
      lookup: this.o.instances ?? (() => Promise.resolve(undefined)),
      awsEnvironment: this.o.config.region.sensors.awsEnvironment,
      arrivalMs: record.arrivalMs,
      services: this.services,
    });
    if (expanded !== undefined) return this.handleSensor(record, expanded);
    return this.handleRecord(record);
  }

  /**
   * Each item of a sensor's payload gets its outcome: an event is decided like any other (its id
   * makes it once however often the payload is read), an unmappable one is a rejected record of its
   * own, an ignored one (a resolved alert) is logged and counted.
   */
  private async handleSensor(record: StreamRecord, expanded: Expansion): Promise<Handled> {
    const outcomes: Handled[] = [];
    for (const [item, found] of expanded.items.entries()) {
      const one = { ...record, item };
      this.o.metrics?.sensorItem(expanded.sensor, found.kind);
      if (found.kind === 'ignored') {
        this.o.log.info(
          { sensor: expanded.sensor, item, shard: record.shardId },
          `${found.what}: ${found.reason}`,
        );
        continue;
      }
      if (found.kind === 'rejected') {
        const rejection = {
          code: SensorErrorCodes.UNMAPPED,
          message: `${found.what}: ${found.reason}`,
          errors: [],
        };
        outcomes.push(await this.aside.reject(one, rejection, this.o.log, expanded.sensor));
        continue;
      }
      const envelope = {
        ...found.envelope,
        ...(expanded.submittedBy === undefined ? {} : { submitted_by: expanded.submittedBy }),
      };
      outcomes.push(
        await this.handleRecord({ ...one, data: Buffer.from(JSON.stringify(envelope)) }, expanded.sensor),
      );
    }
    return outcomes.includes('decided')
      ? 'decided'
      : outcomes.includes('already_decided')
        ? 'already_decided'
        : 'rejected';
  }

  private async handleRecord(record: StreamRecord, sensor?: string): Promise<Handled> {
    // 1. parse + validate
    const parsed = parseEvent(record.data, { maxBytes: this.o.config.region.events.maxBytes });
    if (!parsed.ok) return this.aside.reject(record, parsed.rejection, this.o.log, sensor);
    const { event, timeMs } = parsed;
    const elog = this.o.log.child({ event: event.id });
    return this.handling.run(event.id, () => this.handleEvent(record, event, timeMs, elog));
  }

  /** Waits for the late votes still being recorded (clean shutdown). */
  async flush(): Promise<void> {
    await this.late.flush();
  }

  private async handleEvent(
    record: StreamRecord,
    event: LzEvent,
    timeMs: number,
    elog: Logger,
  ): Promise<Handled> {
    if (this.outbox.has(event.id)) return this.outbox.write(event.id, record, elog);
    const attempt = new EventAttempt(this.attempts, event.id);
    let page: DecisionRecord['page'];
    let written: DecisionRecord | undefined;
    let draft: Draft;
    try {
      // 3a. the claim: decided once, whichever node reads it and however often it is delivered.
      // The claim won, the event is counted in the gates' windows in the same round trip (below).
      if ((await attempt.claim(() => this.verdicts.windowsOf(event, timeMs, this.now()))) === 'superseded') {
        elog.info(
          { shard: record.shardId, sequence: record.sequenceNumber },
          'already decided; delivered again',
        );
        return 'already_decided';
      }
      if (attempt.earlier !== undefined)
        elog.warn(
          { earlier: attempt.earlier },
          `taking over from an earlier attempt at this event (node ${attempt.earlier.node}) that stopped before its decision`,
        );
      // 2 to 7: the gates, the votes, the lock.
      draft = await this.evaluate(event, timeMs, attempt, elog);
      // 8. the page.
      if (draft.decision === 'act') {
        draft = await this.page(record, event, draft, attempt, elog);
        page = draft.page;
      }
      if (draft.decision !== 'act') await attempt.releaseLock(elog);
      // 10. the record.
      written = await this.decide(record, event, draft, attempt, elog);
    } catch (error) {
      this.late.forget(event.id);
      // Nothing acts: the locks taken are freed (if Redis answers; else once the outbox writes).
      const left = await attempt.letGo(elog);
      // This record cannot be processed, however often it is tried: set aside, the shard moves on.
      if (!isRetryable(error)) {
        await releaseLeft(
          this.o.gates.locks,
          { held: [], ...(left.unsure === undefined ? {} : { unsure: left.unsure }) },
          elog,
        );
        return this.aside.event(record, event, error, attempt, page, elog);
      }
      return this.outbox.park(record, event, error, attempt, page, left, elog);
    }
    // Another node's decision is the one kept (this attempt's lock is released).
    if (written === undefined) return 'decided';
    // The decision is durable: what follows never turns it into another outcome.
    await this.afterWrite(written, draft.rule, event, attempt, elog).catch(async (error: unknown) => {
      elog.error({ err: error }, 'after its decision was written, the event could not be followed through');
      // The responder may never have had the record: its late votes are written on their own.
      this.late.letGo(written);
      // The workflow may not have been dispatched: the page goes back to the humans unless it runs.
      if (written.decision === 'act') await this.o.workflows?.notStarted(written, errorText(error));
    });
    return 'decided';
  }

  /** Steps 2 to 7 for a claimed event: the draft decision. */
  private async evaluate(
    event: LzEvent,
    timeMs: number,
    attempt: EventAttempt,
    elog: Logger,
  ): Promise<Draft> {
    // 2 to 5. the stale filter, the fold, the count, the rule, the gates.
    // As of the claim that was won: an event that waited for another node's claim is judged as old
    // as it is by then (never younger), and counts in the windows then.
    const judged = await this.verdicts.judge(event, timeMs, this.now(), elog, attempt.counted);
    if (!('base' in judged)) return judged;
    const { rule, base } = judged;
    // 6. quorum checks
    const { quorum, thresholds } = this.o.config.region;
    const voted = await castVotes(this.o.voters, event, rule, base, {
      quorum,
      deadlineMs: thresholds.voteTimeoutMs,
      late: this.late,
    });
    if (voted.decision !== 'act' || rule.lock === 'none') return voted;
    // 7. resource lock: one remediation per host (or service) at a time.
    const resource = lockResource(rule.lock, event.service, event.host);
    const taken = await attempt.takeLock(resource, holdMs(this.o.config, event.service));
    if (!taken.acquired)
      return {
        ...voted,
        decision: 'escalate',
        reason: 'lock_held',
        lock: { resource, owner: taken.holder, token: taken.token, acquired: false },
      };
    // Not `act` when the host was remediated while the votes were counted (the caller lets go of the lock).
    const meanwhile = await this.verdicts.remediatedMeanwhile(event, voted);
    if (meanwhile !== undefined) return meanwhile;
    const { lock } = taken;
    if (lock.tookOverFrom !== undefined)
      elog.warn({ from: lock.tookOverFrom }, 'took over the lock of an earlier attempt at this event');
    return {
      ...voted,
      lock: {
        ...lock.toJSON(),
        acquired: true,
        ...(lock.tookOverFrom === undefined ? {} : { took_over_from: lock.tookOverFrom }),
      },
    };
  }

  /**
   * 8. page: records the attempt, then acknowledges the event's page before anything is done. A lost
   * claim: nothing is acknowledged, nothing acts. A page that cannot be acknowledged: nothing is
   * done (the caller lets go of the lock).
   */
  private async page(
    record: StreamRecord,
    event: LzEvent,
    draft: Draft,
    attempt: EventAttempt,
    elog: Logger,
  ): Promise<Draft> {
    if (!(await attempt.record(event.incident_key !== undefined, holdMs(this.o.config, event.service))))
      return claimLost(draft);
    const { responder } = this.o;
    if (responder === undefined) return draft;
    return acknowledgePage(responder, event, record.arrivalMs, draft, attempt.earlierAcknowledged, elog);
  }

  /** 10. record: durable before the checkpoint moves (the reader checkpoints after the batch). */
  private async decide(
    record: StreamRecord,
    event: LzEvent,
    d: Draft,
    attempt: EventAttempt,
    elog: Logger,
  ): Promise<DecisionRecord | undefined> {
    const decision = this.builder.build(record, event, d, attempt.earlier);
    // Late votes in by now go in this write, not in an update of their own.
    this.late.takeArrived(decision);
    // An act's record outlives its workflow run, whatever the retention: the run's trace needs it.
    const keep = decision.decision === 'act' ? holdMs(this.o.config, event.service) : 0;
    if (!(await attempt.decide(decision, keep, elog))) {
      this.late.forget(event.id);
      elog.info('already decided by another node');
      return undefined;
    }
    logDecision(decision, elog);
    // The responder will add the page's escalation to the record: late votes coming meanwhile go in
    // that update (it lets go of the record in any case; see afterWrite for when it never gets it).
    if (this.o.responder?.updatesRecord(decision) === true) this.late.hold(decision);
    this.late.written(decision, elog);
    return decision;
  }

  /** What follows a written decision: the earlier attempt answered for, the page, the workflow. */
  private async afterWrite(
    written: DecisionRecord,
    rule: CompiledRule | undefined,
    event: LzEvent,
    attempt: EventAttempt,
    elog: Logger,
  ): Promise<void> {
    await attempt.finish(written, elog);
    this.o.metrics?.recordDecision(written);
    const workflow =
      written.rule === undefined ? undefined : this.o.config.workflows.get(written.rule.workflow);
    this.o.responder?.afterDecision(written, workflow);
    const workflows = this.o.workflows;
    if (written.decision !== 'act' || rule === undefined || workflows === undefined) return;
    // 9. workflow dispatched. When it cannot be, the page goes back to the humans.
    await workflows.dispatch(written, rule, event).catch(async (error: unknown) => {
      elog.error({ err: error }, 'the workflow could not be dispatched');
      await workflows.notStarted(written, errorText(error));
    });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
