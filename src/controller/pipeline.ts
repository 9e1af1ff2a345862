/**
 * One event's way through the cluster, in the order of DESIGN.md. Each step is a call into its own
 * module; this file only walks the event through them and records what happened.
 *
 *   1 parse + validate     bad input: recorded and set aside; the checkpoint moves on
 *   2 stale filter         older than max_event_age: escalate (stale)
 *   3 dedup                same event id: decided once; same (service, resource, type) within
 *                          dedup_window: folded into the first one's decision (duplicate)
 *     count                every event counts toward the rate-limit and breaker windows before any
 *                          gate is asked, so that a storm is seen even while it is being escalated
 *   4 rule match           no rule: escalate (no_rule)
 *   5 safety gates         breaker open: escalate (breaker_open); over the service's rate limit:
 *                          escalate (rate_limited)
 *   6 quorum checks        every node runs the rule's checks; `quorum` passing votes, or escalate
 *   7 resource lock        held by another remediation: escalate (lock_held)
 *   8 page                 the event's page is acknowledged (the responder); when it cannot be
 *                          within the 60 s race: escalate (dependency_down), lock released
 *   9 workflow             the rule's workflow is dispatched once the `act` decision is durable
 *  10 record               the decision, with every gate, vote and check, written once per event id
 *  11 checkpoint           (the shard reader) only after every decision of the batch is durable
 *
 * Fail safe: when Redis cannot be reached at any step, the event escalates (dependency_down) and
 * nothing is acted on; the decision is kept in memory and written once Redis answers again.
 * After the record, the responder escalates the page of an `escalate` decision and tells people,
 * in the background: neither PagerDuty nor a chat service ever holds up a shard.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { CheckToRun } from '../checks/evaluate.js';
import { collectVotes } from '../cluster/quorum.js';
import type { Voter } from '../cluster/quorum.js';
import type { CompiledConfig, CompiledRule, CompiledWorkflow } from '../config/types.js';
import { DependencyErrorCodes, isRetryable } from '../common/dependency.js';
import { EventErrorCodes, LzError } from '../common/errors.js';
import { PARAMETERS } from '../config/parameters.js';
import { parseDuration } from '../common/duration.js';
import { parseEvent } from '../events/parse.js';
import type { Rejection } from '../events/parse.js';
import type { LzEvent } from '../events/schema.js';
import type { StreamRecord } from '../ingest/stream-record.js';
import type { Matcher } from '../matching/matcher.js';
import type { CircuitBreaker } from '../safety/circuit-breaker.js';
import type { Deduplicator } from '../safety/dedup.js';
import { lockResource } from '../safety/lock.js';
import type { ResourceLocks } from '../safety/lock.js';
import type { RateLimiter } from '../safety/rate-limiter.js';
import type { RecentRemediations } from '../safety/remediations.js';
import { isStale } from '../safety/stale.js';
import { PAGE_TAKEN_TEXT, REASON_TEXT } from '../records/decision.js';
import { PagerErrorCodes } from '../pager/errors.js';
import type { DecisionRecord, EscalationReason, Outcome } from '../records/decision.js';
import { REJECTED_RAW_CAP } from './decision-store.js';
import type { Attempt, DecisionStore } from './decision-store.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Responder } from './responder.js';

export interface SafetyGates {
  readonly rate: RateLimiter;
  readonly breaker: CircuitBreaker;
  readonly locks: ResourceLocks;
  readonly dedup: Deduplicator;
  readonly recent: RecentRemediations;
}

export interface PipelineOptions {
  readonly config: CompiledConfig;
  readonly matcher: Matcher;
  readonly store: DecisionStore;
  readonly gates: SafetyGates;
  readonly node: { readonly id: string; readonly zone: string };
  /** This node's vote and each peer's, for an event and the rule's checks. */
  readonly voters: (event: LzEvent, rule: CompiledRule, checks: readonly CheckToRun[]) => Voter[];
  readonly log: Logger;
  /** Events of one batch handled at once (events of one host stay in order). @defaultValue 32 */
  readonly concurrency?: number;
  /** The clock, for tests. @defaultValue Date.now */
  readonly now?: () => number;
  /** 8. Acknowledges pages; escalates and notifies after decisions. Absent: no paging (tests). */
  readonly responder?: Responder;
  readonly metrics?: Metrics;
  /** Called when `onAct` failed: the workflow may not have started (see the node). */
  readonly onActFailed?: (decision: DecisionRecord, error: string) => Promise<void>;
  /** 9. Called once an `act` decision is durable: dispatch the rule's workflow. */
  readonly onAct?: (decision: DecisionRecord, rule: CompiledRule, event: LzEvent) => Promise<void>;
}

export type Handled = 'rejected' | 'already_decided' | 'decided';

export const ControllerErrorCodes = {
  /** Another node held the event's claim for longer than a decision takes (tried again later). */
  CLAIM_HELD: 'LZ_ERR_CLAIM_HELD',
} as const;

/** A lock outlives the workflow's own timeout by this much, so that the run's timeout fires first. */
export const LOCK_MARGIN_MS = 5 * 60_000;

/** The decision being built for one event: what each step found. */
interface Draft {
  decision: Outcome;
  reason?: EscalationReason;
  rule?: CompiledRule;
  votes: DecisionRecord['votes'];
  failures: DecisionRecord['failures'];
  voteMs?: number;
  duplicateOf?: string;
  page?: DecisionRecord['page'];
  ageMs?: number;
  gates?: NonNullable<DecisionRecord['gates']>;
  lock?: NonNullable<DecisionRecord['lock']>;
  error?: string;
  /** Words for the reason when the reason's own would mislead (a person has the page). */
  reasonText?: string;
  /** People have the page (see DecisionRecord.page_taken). */
  pageTaken?: true;
}

/** How far this attempt got: whether the event is ours to decide, and its page acknowledged. */
interface Progress {
  claimed: boolean;
  page?: DecisionRecord['page'];
  /** What an earlier attempt at the event, which died before its decision, had taken. */
  earlier?: Attempt;
}

export class Pipeline {
  private readonly limit;
  private readonly now: () => number;
  /** Late votes still being added to records; awaited on shutdown. */
  private readonly lateWrites = new Set<Promise<void>>();
  /** Decisions made while Redis was away (dependency_down), kept until they can be written. */
  private readonly pending = new Map<string, DecisionRecord>();
  /** Pending decisions whose page was not escalated yet: they may turn out to be another's. */
  private readonly unannounced = new Set<string>();
  /** Events being handled now, by id. */
  private readonly handling = new Map<string, Promise<Handled>>();
  /** Locks a pending decision's attempt had taken, freed once it is written. */
  private readonly pendingLocks = new Map<
    string,
    readonly { readonly resource: string; readonly owner: string; readonly token: number }[]
  >();

  constructor(private readonly o: PipelineOptions) {
    this.limit = pLimit(o.concurrency ?? 32);
    this.now = o.now ?? Date.now;
  }

  /** Every record of a batch gets a durable outcome; rejects if any cannot (the batch is retried). */
  async handleBatch(records: readonly StreamRecord[]): Promise<Handled[]> {
    // Events about the same host are handled in stream order; different hosts in parallel.
    const lanes = new Map<string, StreamRecord[]>();
    for (const record of records) {
      const key = laneOf(record);
      const lane = lanes.get(key);
      if (lane === undefined) lanes.set(key, [record]);
      else lane.push(record);
    }
    const results = new Map<StreamRecord, Handled>();
    const failures: unknown[] = [];
    await Promise.all(
      [...lanes.values()].map((lane) =>
        this.limit(async () => {
          for (const record of lane) {
            try {
              results.set(record, await this.handle(record));
            } catch (error) {
              // The rest of the batch still gets its decisions (dependency_down ones stay pending).
              failures.push(error);
            }
          }
        }),
      ),
    );
    if (failures.length > 0) throw failures[0];
    return records.map((r) => results.get(r) ?? 'rejected');
  }

  async handle(record: StreamRecord): Promise<Handled> {
    const { config, log } = this.o;

    this.o.metrics?.eventReceived();
    // 1. parse + validate
    const parsed = parseEvent(record.data, { maxBytes: config.region.events.maxBytes });
    if (!parsed.ok) return this.reject(record, parsed.rejection, log);
    const { event, timeMs } = parsed;
    const elog = log.child({ event: event.id });
    // One handling of an event at a time in this process: a shard read again (its lease lost and
    // taken back) may hand over a record whose first handling is still going. Its claim is this
    // node's too, so the second would go on as if it were the first.
    // Chained at once, so that a third delivery waits for the second, not only for the first.
    const before = this.handling.get(event.id) ?? Promise.resolve<Handled>('decided');
    const handled = before
      .catch(() => 'decided' as const)
      .then(() => this.handleEvent(record, event, timeMs, elog));
    this.handling.set(event.id, handled);
    try {
      return await handled;
    } finally {
      if (this.handling.get(event.id) === handled) this.handling.delete(event.id);
    }
  }

  private async handleEvent(
    record: StreamRecord,
    event: LzEvent,
    timeMs: number,
    elog: Logger,
  ): Promise<Handled> {
    const pending = this.pending.get(event.id);
    if (pending !== undefined) return this.writePending(pending, elog, record);

    let lock: { resource: string; owner: string; token: number } | undefined;
    let written: DecisionRecord | undefined;
    let rule: CompiledRule | undefined;
    const progress: Progress = { claimed: false };
    try {
      let draft = await this.evaluate(record, event, timeMs, elog, progress, (taken) => (lock = taken));
      if (draft === 'already_decided') return 'already_decided';
      rule = draft.rule;
      if (draft.decision === 'act') {
        draft = await this.page(record, event, draft, progress, elog);
        if (draft.page !== undefined) progress.page = draft.page;
      }
      if (draft.decision !== 'act' && lock !== undefined) {
        await this.releaseQuietly(lock, elog);
        lock = undefined;
      }
      written = await this.decide(record, event, elog, draft, progress.earlier);
    } catch (error) {
      this.afterDecision.delete(event.id);
      // Nothing acts: the locks taken are freed (if Redis answers; else by writePending).
      if (lock !== undefined) await this.releaseQuietly(lock, elog);
      if (progress.earlier?.lock !== undefined) await this.releaseQuietly(progress.earlier.lock, elog);
      // This record cannot be processed, however often it is tried: set aside, the shard moves on.
      if (!isRetryable(error)) return this.setAside(record, event, error, progress, elog);
      return this.parkUntilRedis(record, event, error, progress, lock, elog);
    }
    if (written === undefined) {
      if (lock !== undefined) await this.releaseQuietly(lock, elog);
      return 'decided';
    }
    // The decision is durable: what follows never turns it into another outcome.
    const acted = written;
    await this.afterWrite(acted, rule, event, progress, elog).catch(async (error: unknown) => {
      elog.error({ err: error }, 'after its decision was written, the event could not be followed through');
      // The workflow may not have been dispatched: the page goes back to the humans unless it runs.
      if (acted.decision === 'act')
        await this.o.onActFailed?.(acted, error instanceof Error ? error.message : String(error));
    });
    return 'decided';
  }

  /** What follows a written decision: the earlier attempt answered for, the page, the workflow. */
  private async afterWrite(
    written: DecisionRecord,
    rule: CompiledRule | undefined,
    event: LzEvent,
    progress: Progress,
    elog: Logger,
  ): Promise<void> {
    const left = progress.earlier?.lock;
    if (left !== undefined && !carriesOn(written, left)) {
      // The earlier attempt's lock was not taken over (this decision is not `act` on it): freed,
      // so that the host is not held for nobody. Fenced by its token: a no-op if it is gone.
      await this.releaseQuietly(left, elog);
    }
    // Answered for: the decision says what was taken (its lock, its page).
    await this.clearAttemptQuietly(event.id, elog);
    this.o.metrics?.recordDecision(written);
    this.o.responder?.afterDecision(written, this.workflowOf(written));
    if (written.decision === 'act' && rule !== undefined && this.o.onAct !== undefined) {
      // 9. workflow dispatched. When it cannot be, the page goes back to the humans.
      await this.o.onAct(written, rule, event).catch(async (error: unknown) => {
        elog.error({ err: error }, 'the workflow could not be dispatched');
        await this.o.onActFailed?.(written, error instanceof Error ? error.message : String(error));
      });
    }
  }

  /**
   * Fail safe: nothing is acted on without Redis. Escalate, and keep the decision until it can be
   * recorded; the batch is retried, so the checkpoint waits for it.
   */
  private async parkUntilRedis(
    record: StreamRecord,
    event: LzEvent,
    error: unknown,
    progress: Progress,
    lock: { resource: string; owner: string; token: number } | undefined,
    elog: Logger,
  ): Promise<Handled> {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof LzError && error.code === DependencyErrorCodes.DEPENDENCY_DOWN)
      this.o.metrics?.redisError('decide');
    const decision = this.build(
      record,
      event,
      {
        decision: 'escalate',
        reason: 'dependency_down',
        votes: [],
        failures: [],
        error: message,
        ...(progress.page === undefined ? {} : { page: progress.page }),
      },
      progress.earlier,
    );
    this.pending.set(event.id, decision);
    // Released again once Redis answers (fenced by token: a no-op for those already freed).
    const held = [lock, progress.earlier?.lock].filter((l) => l !== undefined);
    if (held.length > 0) this.pendingLocks.set(event.id, held);
    if (progress.claimed) {
      // Ours to decide: the page is escalated now, not once Redis is back, so that the humans
      // hear of it in time.
      this.o.responder?.afterDecision(decision, undefined);
    } else {
      // It may have been decided before Redis went away (a retried batch): its page is left alone
      // until the write shows that this is its decision.
      this.unannounced.add(event.id);
    }
    elog.error(
      { decision: 'escalate', reason: 'dependency_down', err: error },
      `escalate: dependency_down (${message})`,
    );
    return this.writePending(decision, elog, record);
  }

  /** 1. A record that is not an event: recorded once per shard and sequence, and skipped. */
  private async reject(record: StreamRecord, rejection: Rejection, log: Logger): Promise<Handled> {
    const recorded = await this.o.store.reject({
      shard: record.shardId,
      sequence: record.sequenceNumber,
      code: rejection.code,
      message: rejection.message,
      errors: rejection.errors,
      size: record.data.byteLength,
      raw: Buffer.from(record.data.subarray(0, REJECTED_RAW_CAP)).toString('base64'),
      node: this.o.node.id,
      at: new Date(this.now()).toISOString(),
    });
    if (recorded) {
      this.o.metrics?.eventRejected(rejection.code);
      log.warn(
        { shard: record.shardId, sequence: record.sequenceNumber, code: rejection.code },
        `record rejected: ${rejection.message}`,
      );
    }
    return 'rejected';
  }

  /**
   * An event that cannot be processed (a step threw an error that is no dependency's failure: the
   * same record would fail the same way each time it is read) is set aside so that its shard moves
   * on. Nothing acts on it (the caller freed its locks).
   *
   * When the event is this node's to decide (it holds the claim), its decision is written, without
   * the event's data (whose shape may be what failed): `escalate`, reason `unprocessable`, with the
   * error and the record's first bytes in `set_aside`. That answers a redelivery ("already
   * decided") and frees the claim, and the page goes to the humans now, as for any escalation (one
   * that this attempt or an earlier one acknowledged, whatever its state). Otherwise (not claimed,
   * or that write is refused too) it is a rejected record with the error, as a record that is not an
   * event is.
   */
  private async setAside(
    record: StreamRecord,
    event: LzEvent,
    error: unknown,
    progress: Progress,
    elog: Logger,
    parked = false,
  ): Promise<Handled> {
    const message = error instanceof Error ? error.message : String(error);
    const announced = parked && !this.unannounced.has(event.id);
    this.pending.delete(event.id);
    this.unannounced.delete(event.id);
    this.pendingLocks.delete(event.id);
    this.o.metrics?.eventRejected(EventErrorCodes.UNPROCESSABLE);
    elog.error(
      { err: error, shard: record.shardId, sequence: record.sequenceNumber },
      `event set aside, nothing acted on: it could not be ${parked ? 'recorded' : 'processed'} (${message})`,
    );
    const raw = Buffer.from(record.data.subarray(0, REJECTED_RAW_CAP)).toString('base64');
    // Without its data, whose shape may be what failed. Should even that fail, a rejected record.
    const decision = this.tryBuild(
      record,
      { ...event, data: {} },
      {
        decision: 'escalate',
        reason: 'unprocessable',
        error: `${EventErrorCodes.UNPROCESSABLE}: ${message}`,
        votes: [],
        failures: [],
        ...(progress.page === undefined ? {} : { page: progress.page }),
      },
      progress.earlier,
    );
    if (decision !== undefined && progress.claimed && !parked) {
      const aside = {
        ...decision,
        set_aside: { code: EventErrorCodes.UNPROCESSABLE, raw, size: record.data.byteLength },
      };
      const written = await this.o.store.write(aside, 0).catch((again: unknown) => {
        if (isRetryable(again)) throw again;
        elog.error(
          { err: again },
          'the set-aside decision could not be written either; recording the record as rejected',
        );
        return undefined;
      });
      if (written === false) return 'already_decided';
      if (written === true) {
        await this.clearAttemptQuietly(event.id, elog);
        this.o.metrics?.recordDecision(aside);
        this.o.responder?.afterDecision(aside, undefined);
        return 'decided';
      }
    }
    // Only a page nobody has answered for yet: a parked decision's page was escalated when it parked.
    if (decision !== undefined && progress.claimed && !announced)
      this.o.responder?.afterDecision(decision, undefined);
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
        {
          retryable: true,
          cause: refused,
        },
      );
    });
    await this.clearAttemptQuietly(event.id, elog);
    return rejected;
  }

  /** Steps 2 to 7; resolves with the draft decision, or `already_decided`. */
  private async evaluate(
    record: StreamRecord,
    event: LzEvent,
    timeMs: number,
    elog: Logger,
    progress: Progress,
    tookLock: (lock: { resource: string; owner: string; token: number }) => void,
  ): Promise<Draft | 'already_decided'> {
    const { config, gates } = this.o;
    const t = config.region.thresholds;
    const now = this.now();

    // 3a. dedup by event id: decided once, whichever node reads it and however often it is delivered.
    const claim = await this.claim(event.id);
    if (claim === 'decided') {
      elog.info(
        { shard: record.shardId, sequence: record.sequenceNumber },
        'already decided; delivered again',
      );
      return 'already_decided';
    }
    progress.claimed = true;
    if (claim.earlier !== undefined) {
      progress.earlier = claim.earlier;
      elog.warn(
        { earlier: claim.earlier },
        `taking over from an earlier attempt at this event (node ${claim.earlier.node}) that stopped before its decision`,
      );
    }

    // 2. stale filter
    const age = isStale(timeMs, now, t.maxEventAgeMs, t.clockSkewToleranceMs);
    if (age.stale)
      return { decision: 'escalate', reason: 'stale', ageMs: age.ageMs, votes: [], failures: [] };
    if (age.reason === 'future') {
      // A time further ahead than clocks can disagree is not a time to act on: hand it to people.
      const ahead = -age.ageMs;
      return {
        decision: 'escalate',
        reason: 'stale',
        ageMs: age.ageMs,
        error: `event time is ${ahead} ms in the future, beyond clock_skew_tolerance`,
        votes: [],
        failures: [],
      };
    }

    // 3b. fold what was reported moments ago about the same thing: same service, resource, type and
    // data (Nagios firing one alarm per check on one host). A different report about the same host
    // (UP, then DOWN) is not a duplicate: folding it would hide a real failure.
    const resource = event.host ?? event.resource ?? '';
    const fold = await gates.dedup.fold(
      event.service,
      resource,
      `${event.type}#${fingerprint(event.data)}`,
      event.id,
      t.dedupWindowMs,
    );
    if (!fold.first)
      return {
        decision: 'duplicate',
        duplicateOf: fold.firstEventId,
        ageMs: age.ageMs,
        votes: [],
        failures: [],
      };

    // count: every event counts in the windows before a gate is asked.
    const service = config.services.get(event.service);
    const threshold =
      service?.parameters.rateLimitThreshold ?? Number(PARAMETERS['rate_limit_threshold']?.builtin);
    const windowMs =
      service?.parameters.rateLimitWindowMs ??
      parseDuration(String(PARAMETERS['rate_limit_window']?.builtin)) ??
      600_000;
    const [rate, breaker] = await Promise.all([
      gates.rate.hit(event.service, event.id, now, windowMs, threshold),
      gates.breaker.hit(event.service, now, t.breakerWindowMs, t.breakerThreshold),
    ]);
    if (breaker.changed !== undefined) {
      elog.warn(
        {
          breaker: breaker.changed,
          services: breaker.services,
          threshold: breaker.threshold,
          tripping: breaker.tripping,
        },
        breaker.changed === 'opened'
          ? `circuit breaker OPEN: ${breaker.services} services failing within the window (threshold ${breaker.threshold}); every event escalates`
          : `circuit breaker closed: ${breaker.services} services failing within the window`,
      );
    }
    const recorded: Draft['gates'] = {
      rate: { allowed: rate.allowed, count: rate.count, threshold: rate.threshold, window_ms: rate.windowMs },
      breaker: {
        open: breaker.open,
        services: breaker.services,
        threshold: breaker.threshold,
        window_ms: breaker.windowMs,
        ...(breaker.openedAt === undefined || breaker.openedAt <= 0
          ? {}
          : { opened_at: new Date(breaker.openedAt).toISOString() }),
      },
    };
    const base = { ageMs: age.ageMs, gates: recorded, votes: [], failures: [] };

    // 4. rule match
    const rule = this.o.matcher.match(event);
    if (rule === undefined) return { ...base, decision: 'escalate', reason: 'no_rule' };

    // 5. safety gates
    if (breaker.open) return { ...base, rule, decision: 'escalate', reason: 'breaker_open' };
    if (!rate.allowed) return { ...base, rule, decision: 'escalate', reason: 'rate_limited' };
    // A host remediated moments ago is not the controller's to remediate again, whatever the checks
    // say: a later report about it (another sensor, another state) is for people. One still running
    // holds its lock, which says so (lock_held) with its holder; a rule without a lock has only this.
    const recently = await this.recentRemediation(event, rule.lock === 'none');
    if (recently !== undefined)
      return {
        ...base,
        gates: { ...recorded, remediated: recently },
        rule,
        decision: 'escalate',
        reason: 'recently_remediated',
      };

    // 6. quorum checks
    const checks: CheckToRun[] = rule.checks.map((c) => ({
      name: c.name,
      threshold: c.threshold?.value,
      options: c.options,
    }));
    const outcome = await collectVotes(
      this.o.voters(event, rule, checks),
      config.region.quorum,
      t.voteTimeoutMs,
    );
    const voted: Draft = {
      ...base,
      rule,
      decision: outcome.decision,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      votes: outcome.votes,
      failures: outcome.failures,
      voteMs: outcome.elapsedMs,
    };
    if (outcome.pending.length > 0) this.afterDecision.set(event.id, outcome.late);
    if (outcome.decision !== 'act' || rule.lock === 'none') return voted;

    // 7. resource lock: one remediation per host (or service) at a time.
    const lockedResource = lockResource(rule.lock, event.service, event.host);
    // Owned by this node's decision of the event: should two nodes ever both decide it (a claim that
    // expired), neither can renew or release the other's lock.
    const owner = `event:${event.id}@${this.o.node.id}`;
    const ttl = this.holdMs(event.service);
    // The lock of an earlier attempt at this very event (its node stopped after taking it, before
    // the decision was written) is taken over with a new token, provided, in the same script, that
    // the event's claim is this node's and it has no decision: that attempt is over.
    const earlier = progress.earlier?.lock;
    const taken = await gates.locks.acquire(
      lockedResource,
      owner,
      ttl,
      earlier !== undefined && earlier.resource === lockedResource
        ? { takeOver: { from: earlier.owner, ...this.o.store.claimProof(event.id, this.o.node.id) } }
        : {},
    );
    if (!taken.acquired) {
      return {
        ...voted,
        decision: 'escalate',
        reason: 'lock_held',
        lock: { resource: lockedResource, owner: taken.holder, token: taken.token, acquired: false },
      };
    }
    // Again with the lock held: a remediation of this host that ended while the votes were being
    // counted recorded itself before it let go of the lock, so it is seen now. So is one still running
    // whose lock was lost: it may still be acting on the host.
    // Handed to the caller first, so that it is released whatever happens next (this read failing too).
    tookLock({ resource: lockedResource, owner, token: taken.token });
    const meanwhile = await this.recentRemediation(event, true);
    if (meanwhile !== undefined) {
      // Not `act`: the caller releases the lock.
      return {
        ...voted,
        gates: { ...recorded, remediated: meanwhile },
        decision: 'escalate',
        reason: 'recently_remediated',
      };
    }
    // Recorded in the attempt record by step 8, before anything else is done with it.
    if (taken.tookOverFrom !== undefined)
      elog.warn({ from: taken.tookOverFrom }, 'took over the lock of an earlier attempt at this event');
    return {
      ...voted,
      lock: {
        resource: lockedResource,
        owner,
        token: taken.token,
        acquired: true,
        ...(taken.tookOverFrom === undefined ? {} : { took_over_from: taken.tookOverFrom }),
      },
    };
  }

  /**
   * The remediation of the event's host (or resource) on record, if another event's: ended within
   * its window by this node's clock, or (with `running`) not ended yet.
   */
  private async recentRemediation(
    event: LzEvent,
    running: boolean,
  ): Promise<NonNullable<NonNullable<DecisionRecord['gates']>['remediated']> | undefined> {
    const resource = event.host ?? event.resource;
    if (resource === undefined) return undefined;
    const found = await this.o.gates.recent.latest(event.service, resource);
    if (found === undefined || found.event_id === event.id) return undefined;
    if (found.ended_at === undefined && !running) return undefined;
    // The key's TTL only clears it away later; the window is read on the pipeline's clock.
    const windowMs = this.reremediateAfterMs(event.service);
    if (found.ended_at !== undefined && Date.parse(found.ended_at) + windowMs <= this.now()) return undefined;
    return { ...found, window_ms: windowMs };
  }

  private reremediateAfterMs(service: string): number {
    return this.o.config.services.get(service)?.parameters.reremediateAfterMs ?? 3_600_000;
  }

  /** Late votes of an event, waiting for its decision to be written. */
  private readonly afterDecision = new Map<
    string,
    Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>
  >();

  /** Waits for the late votes still being recorded (clean shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.lateWrites]);
  }

  /**
   * 8. page: records the attempt, then acknowledges the event's page before anything is done. When
   * either fails, nothing is done: the decision becomes `dependency_down` (the caller releases the
   * lock).
   */
  private async page(
    record: StreamRecord,
    event: LzEvent,
    draft: Draft,
    progress: Progress,
    elog: Logger,
  ): Promise<Draft> {
    // What this attempt has taken (its lock; the page it is about to acknowledge, or that an
    // earlier attempt acknowledged), recorded before PagerDuty is called and only while the claim
    // is this node's: should the node die during or after the call, the next one takes the lock
    // over or frees it, and answers for the page. A lost claim: nothing is acknowledged, nothing acts.
    const taken = draft.lock;
    const attempt: Attempt = {
      node: this.o.node.id,
      ...(taken === undefined
        ? {}
        : { lock: { resource: taken.resource, owner: taken.owner, token: taken.token } }),
      ...(event.incident_key !== undefined || progress.earlier?.acknowledged === true
        ? { acknowledged: true }
        : {}),
    };
    if (!(await this.o.store.recordAttempt(event.id, attempt, this.holdMs(event.service))))
      return claimLost(draft);
    const responder = this.o.responder;
    if (responder === undefined) return draft;
    try {
      // A page the earlier attempt acknowledged stopped PagerDuty's timer: nobody is being paged, the
      // race is over, and answering for it is this attempt's job, whatever the time.
      const page = await responder.acknowledge(event, record.arrivalMs, {
        fresh: progress.earlier?.acknowledged === true,
      });
      if (page === undefined) return draft;
      progress.page = page;
      return { ...draft, page };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const code = error instanceof LzError ? `${error.code}: ` : '';
      elog.error(
        { err: error },
        'the page could not be acknowledged: standing back (PagerDuty pages the humans by its own timer)',
      );
      const { lock: _taken, ...rest } = draft;
      if (error instanceof LzError && error.code === PagerErrorCodes.RESOLVED)
        // Nothing is down and nobody is paged: the page is over. Not acted on, and not touched.
        return { ...rest, decision: 'escalate', reason: 'page_resolved', error: `${code}${message}` };
      const humans =
        error instanceof LzError &&
        (error.code === PagerErrorCodes.TAKEN || error.code === PagerErrorCodes.ALREADY_ESCALATED);
      return {
        ...rest,
        decision: 'escalate',
        reason: 'dependency_down',
        error: `the page could not be acknowledged, so nothing was done and the lock was released: ${code}${message}`,
        // Not a dependency that is down: the page is a person's already, and one actor is enough.
        ...(humans ? { reasonText: PAGE_TAKEN_TEXT, pageTaken: true as const } : {}),
      };
    }
  }

  /** How long what an act takes (its lock, its attempt record, its decision) must last: its run, and a margin. */
  private holdMs(service: string): number {
    return (
      (this.o.config.services.get(service)?.parameters.workflowTimeoutMs ?? 30 * 60_000) + LOCK_MARGIN_MS
    );
  }

  private workflowOf(d: DecisionRecord): CompiledWorkflow | undefined {
    return d.rule === undefined ? undefined : this.o.config.workflows.get(d.rule.workflow);
  }

  /**
   * Takes the right to decide the event. `false` when it is already decided. When another node holds
   * the claim (it reads the same record, e.g. during a takeover), wait for its decision; if its claim
   * expires without one (it died), take over.
   */
  private async claim(eventId: string): Promise<'decided' | { readonly earlier?: Attempt }> {
    const { store, node, config } = this.o;
    // Outlives the vote (its deadline), the acknowledgement of the page (its budget) and the write of
    // the decision, with room to spare.
    const ttl = 2 * config.region.thresholds.voteTimeoutMs + 1000 + (config.region.pagerduty?.budgetMs ?? 0);
    const deadline = Date.now() + ttl * 3;
    for (;;) {
      const claim = await store.claim(eventId, node.id, ttl);
      if (claim.status === 'decided') return 'decided';
      if (claim.status === 'claimed') return claim.earlier === undefined ? {} : { earlier: claim.earlier };
      if (Date.now() > deadline) {
        // Another node is (or was) deciding it: not this record's fault, so tried again later.
        throw new LzError(
          ControllerErrorCodes.CLAIM_HELD,
          `event ${eventId}: claimed by ${claim.holder} and still undecided`,
          { retryable: true },
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private tryBuild(...args: Parameters<Pipeline['build']>): DecisionRecord | undefined {
    try {
      return this.build(...args);
    } catch {
      return undefined;
    }
  }

  private build(record: StreamRecord, event: LzEvent, d: Draft, earlier?: Attempt): DecisionRecord {
    const now = this.now();
    const mode = this.o.config.services.get(event.service)?.parameters.mode;
    return {
      version: 1,
      event_id: event.id,
      decision: d.decision,
      ...(d.reason === undefined
        ? {}
        : { reason: d.reason, reason_text: d.reasonText ?? REASON_TEXT[d.reason] }),
      ...(d.pageTaken === true ? { page_taken: true as const } : {}),
      service: event.service,
      ...(event.host === undefined ? {} : { host: event.host }),
      event_type: event.type,
      ...(d.rule === undefined
        ? {}
        : {
            rule: {
              id: d.rule.id,
              name: d.rule.name,
              workflow: d.rule.action.workflow,
              lock: d.rule.lock,
              checks: d.rule.checks.map((c) => ({
                name: c.name,
                ...(c.threshold === undefined
                  ? {}
                  : { threshold: c.threshold.value, source: c.threshold.source }),
              })),
            },
          }),
      ...(d.duplicateOf === undefined ? {} : { duplicate_of: d.duplicateOf }),
      ...(d.ageMs === undefined ? {} : { age_ms: d.ageMs }),
      ...(d.gates === undefined ? {} : { gates: d.gates }),
      ...(d.lock === undefined ? {} : { lock: d.lock }),
      ...(d.error === undefined ? {} : { error: d.error }),
      ...(mode === undefined ? {} : { mode }),
      ...(d.page === undefined ? {} : { page: d.page }),
      quorum: this.o.config.region.quorum,
      coordinator: { node: this.o.node.id, zone: this.o.node.zone },
      votes: d.votes,
      failures: d.failures,
      source: { shard: record.shardId, sequence: record.sequenceNumber },
      event_time: event.time,
      arrived_at: new Date(record.arrivalMs).toISOString(),
      decided_at: new Date(now).toISOString(),
      latency_ms: Math.max(0, now - record.arrivalMs),
      ...(d.voteMs === undefined ? {} : { vote_ms: d.voteMs }),
      ...(earlier === undefined ? {} : { earlier_attempt: earlier }),
      event,
    };
  }

  /** 10. record: durable before the checkpoint moves (the reader checkpoints after the batch). */
  private async decide(
    record: StreamRecord,
    event: LzEvent,
    elog: Logger,
    d: Draft,
    earlier: Attempt | undefined,
  ): Promise<DecisionRecord | undefined> {
    const decision = this.build(record, event, d, earlier);
    const late = this.afterDecision.get(event.id);
    this.afterDecision.delete(event.id);
    // An act's record outlives its workflow run, whatever the retention: the run's trace needs it.
    const keep = decision.decision === 'act' ? this.holdMs(event.service) : 0;
    if (!(await this.o.store.write(decision, keep))) {
      elog.info('already decided by another node');
      return undefined;
    }
    this.logDecision(decision, elog);
    if (late !== undefined) this.recordLate(decision, late, elog);
    return decision;
  }

  /**
   * Writes a decision made while Redis was away. Throws while Redis is still away: the batch is
   * retried and this is tried again. A decision that can never be written (its record cannot be
   * serialised, the script refuses it) is not retried for ever: its event is set aside.
   */
  private async writePending(decision: DecisionRecord, elog: Logger, record: StreamRecord): Promise<Handled> {
    let taken: Awaited<ReturnType<DecisionStore['writeTaking']>>;
    try {
      taken = await this.o.store.writeTaking(decision, 0, { retry: true });
    } catch (error) {
      if (isRetryable(error)) throw error;
      const progress: Progress = {
        claimed: !this.unannounced.has(decision.event_id),
        ...(decision.page === undefined ? {} : { page: decision.page }),
        ...(decision.earlier_attempt === undefined ? {} : { earlier: decision.earlier_attempt }),
      };
      for (const lock of this.pendingLocks.get(decision.event_id) ?? [])
        await this.releaseQuietly(lock, elog);
      return this.setAside(record, decision.event, error, progress, elog, true);
    }
    const { written, attempt } = taken;
    this.pending.delete(decision.event_id);
    const unannounced = this.unannounced.delete(decision.event_id);
    for (const lock of this.pendingLocks.get(decision.event_id) ?? []) await this.releaseQuietly(lock, elog);
    this.pendingLocks.delete(decision.event_id);
    if (!written && (await this.o.store.get(decision.event_id))?.coordinator.node === this.o.node.id) {
      // This node's own earlier write of the event (its reply lost) is what is stored: nothing acted
      // on it (its lock is freed above, its page was answered for), so its attempt record goes.
      elog.warn('an earlier write of this decision by this node is what is stored; its reply was lost');
      await this.clearAttemptQuietly(decision.event_id, elog);
    }
    if (written) {
      elog.info(
        { decision: decision.decision, reason: decision.reason },
        'dependency_down decision recorded now that Redis answers',
      );
      this.o.metrics?.recordDecision(decision);
      // What an attempt at the event had taken (an earlier one that died, unread when this node
      // could not claim): nothing acts, so its lock is freed, and its page is this decision's.
      if (attempt?.lock !== undefined) await this.releaseQuietly(attempt.lock, elog);
      const answered =
        unannounced && attempt !== undefined && decision.earlier_attempt === undefined
          ? { ...decision, earlier_attempt: attempt }
          : decision;
      if (answered !== decision)
        await this.o.store.update(answered).catch((error: unknown) => {
          elog.warn({ err: error }, 'the earlier attempt could not be added to the decision record');
        });
      if (unannounced) this.o.responder?.afterDecision(answered, undefined);
      await this.clearAttemptQuietly(decision.event_id, elog);
    }
    return 'decided';
  }

  private logDecision(d: DecisionRecord, elog: Logger): void {
    const passes = d.votes.filter((v) => v.pass).map((v) => `${v.node}/${v.zone}`);
    const text =
      d.decision === 'act'
        ? `act: ${d.rule?.id ?? ''} passed ${passes.length}/${d.quorum}${d.lock === undefined ? '' : `, lock ${d.lock.resource} #${d.lock.token}`}`
        : d.decision === 'duplicate'
          ? `duplicate of ${d.duplicate_of ?? '?'}`
          : `escalate: ${d.reason ?? ''}`;
    elog.info(
      {
        decision: d.decision,
        reason: d.reason,
        rule: d.rule?.id,
        passes,
        fails: d.votes.filter((v) => !v.pass).map((v) => v.node),
        failures: d.failures,
        gates: d.gates,
        latencyMs: d.latency_ms,
      },
      text,
    );
  }

  private async clearAttemptQuietly(eventId: string, elog: Logger): Promise<void> {
    await this.o.store.clearAttempt(eventId).catch((error: unknown) => {
      elog.warn({ err: error }, 'the attempt record could not be cleared; it expires by its TTL');
    });
  }

  private async releaseQuietly(
    lock: { resource: string; owner: string; token: number },
    elog: Logger,
  ): Promise<void> {
    try {
      await this.o.gates.locks.release(lock.resource, lock.owner, lock.token);
    } catch (error) {
      elog.warn({ err: error, lock }, 'lock could not be released; it expires by its TTL');
    }
  }

  private recordLate(
    decision: DecisionRecord,
    late: Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>,
    elog: Logger,
  ): void {
    const write = late
      .then(async ({ votes, failures }) => {
        decision.late_votes = votes;
        decision.late_failures = failures;
        await this.o.store.update(decision);
      })
      .catch((error: unknown) => elog.warn({ err: error }, 'late votes could not be added to the record'))
      .finally(() => this.lateWrites.delete(write));
    this.lateWrites.add(write);
  }
}

/** A short stable hash of an event's data (keys sorted at every level). */
export function fingerprint(data: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(data)))
    .digest('hex')
    .slice(0, 16);
}

/** Records about the same host share a lane; unparseable ones get their own. */
function laneOf(record: StreamRecord): string {
  return record.partitionKey === '' ? `${record.shardId}/${record.sequenceNumber}` : record.partitionKey;
}

/** The draft of an attempt that lost the event's claim: another node decides it; nothing acts here. */
function claimLost(draft: Draft): Draft {
  const { lock: _lock, ...rest } = draft;
  return {
    ...rest,
    decision: 'escalate',
    reason: 'dependency_down',
    error: "this node's claim on the event expired before it could act; another node decides it",
  };
}

/** Whether `written` goes on with the earlier attempt's lock (took it over, or re-entered it). */
function carriesOn(
  written: DecisionRecord,
  left: { readonly owner: string; readonly token: number },
): boolean {
  const mine = written.lock?.acquired === true ? written.lock : undefined;
  return (
    mine !== undefined &&
    (mine.took_over_from === left.owner || (mine.owner === left.owner && mine.token === left.token))
  );
}
