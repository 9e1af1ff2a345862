/**
 * Steps 2 to 5 for one claimed event: the stale filter, the fold of a repeated report, the count
 * in the rate-limit and breaker windows, the rule match and the safety gates. Each gate answers
 * with a verdict that the decision record keeps (`gates`); a gate that stops the event gives its
 * draft, and a passing event gives its rule and what the gates found.
 */
import type { Logger } from 'pino';
import type { CompiledConfig, CompiledRule } from '../config/types.js';
import { parametersOf } from '../config/services.js';
import type { LzEvent } from '../events/schema.js';
import type { Matcher } from '../matching/matcher.js';
import type { DecisionRecord } from '../records/decision.js';
import type { ResourceLocks } from '../safety/lock.js';
import type { GateWindows, Windows, WindowsOf } from '../safety/gate-windows.js';
import type { RecentRemediations, Remediation } from '../safety/remediations.js';
import { isStale } from '../safety/stale.js';
import { fingerprint } from './draft.js';
import type { Draft } from './draft.js';

export interface SafetyGates {
  /** The fold, the rate and breaker counts and the remediation record, in one round trip. */
  readonly windows: GateWindows;
  readonly locks: ResourceLocks;
  readonly recent: RecentRemediations;
}

type Remediated = NonNullable<NonNullable<DecisionRecord['gates']>['remediated']>;

/** An event the gates let through: its rule, and the draft so far (age and gate verdicts). */
export interface Passed {
  readonly rule: CompiledRule;
  readonly base: Draft;
}

export class GateVerdicts {
  constructor(
    private readonly config: CompiledConfig,
    private readonly matcher: Matcher,
    private readonly gates: SafetyGates,
    private readonly now: () => number,
  ) {}

  /**
   * What the event counts in the gates' windows as of `now`; `undefined` when it is stale by then
   * (or too far in the future), as `judge` will find: such an event counts nowhere.
   */
  windowsOf(event: LzEvent, timeMs: number, now: number): WindowsOf | undefined {
    const t = this.config.region.thresholds;
    const age = isStale(timeMs, now, t.maxEventAgeMs, t.clockSkewToleranceMs);
    if (age.stale || age.reason === 'future') return undefined;
    return this.windowsFor(event, now);
  }

  private windowsFor(event: LzEvent, now: number): WindowsOf {
    const t = this.config.region.thresholds;
    const parameters = parametersOf(this.config.services, event.service);
    return {
      service: event.service,
      eventId: event.id,
      resource: event.host ?? event.resource,
      type: `${event.type}#${fingerprint(event.data)}`,
      nowMs: now,
      dedupWindowMs: t.dedupWindowMs,
      rateWindowMs: parameters.rateLimitWindowMs,
      rateThreshold: parameters.rateLimitThreshold,
      breakerWindowMs: t.breakerWindowMs,
      breakerThreshold: t.breakerThreshold,
    };
  }

  /**
   * The draft of an event a gate stops, or the rule it passes on to the votes, as of `now`.
   * `counted`: the windows counted with the event's claim (`windowsOf` then), judged as of that
   * moment; without it they are counted here.
   */
  async judge(
    event: LzEvent,
    timeMs: number,
    at: number,
    elog: Logger,
    counted?: { readonly of: WindowsOf; readonly windows: Windows },
  ): Promise<Draft | Passed> {
    const t = this.config.region.thresholds;
    const now = counted?.of.nowMs ?? at;

    // 2. stale filter
    const age = isStale(timeMs, now, t.maxEventAgeMs, t.clockSkewToleranceMs);
    if (age.stale)
      return { decision: 'escalate', reason: 'stale', ageMs: age.ageMs, votes: [], failures: [] };
    if (age.reason === 'future')
      // A time further ahead than clocks can disagree is not a time to act on: hand it to people.
      return {
        decision: 'escalate',
        reason: 'stale',
        ageMs: age.ageMs,
        error: `event time is ${-age.ageMs} ms in the future, beyond clock_skew_tolerance`,
        votes: [],
        failures: [],
      };

    // 3b. fold what was reported moments ago about the same thing: same service, resource, type and
    // data (Nagios firing one alarm per check on one host). A different report about the same host
    // (UP, then DOWN) is not a duplicate: folding it would hide a real failure.
    // count: every event counts in the windows before a gate is asked, so that a storm is seen
    // even while it is being escalated. One round trip for both, with the host's remediation record.
    const windows = counted?.windows ?? (await this.gates.windows.count(this.windowsFor(event, now)));
    if (!('rate' in windows))
      return {
        decision: 'duplicate',
        duplicateOf: windows.fold.firstEventId,
        ageMs: age.ageMs,
        votes: [],
        failures: [],
      };
    const { rate, breaker } = windows;
    if (breaker.changed !== undefined)
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
    const verdicts: NonNullable<Draft['gates']> = {
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
    const base: Draft = { decision: 'escalate', ageMs: age.ageMs, gates: verdicts, votes: [], failures: [] };

    // 4. rule match
    const rule = this.matcher.match(event);
    if (rule === undefined) return { ...base, reason: 'no_rule' };

    // 5. safety gates
    if (breaker.open) return { ...base, rule, reason: 'breaker_open' };
    if (!rate.allowed) return { ...base, rule, reason: 'rate_limited' };
    // A host remediated moments ago is not the controller's to remediate again, whatever the checks
    // say: a later report about it (another sensor, another state) is for people. One still running
    // holds its lock, which says so (lock_held) with its holder; a rule without a lock has only this.
    const recently = this.recentRemediation(event, windows.remediated, rule.lock === 'none');
    if (recently !== undefined) return remediatedAlready(base, rule, recently);
    return { rule, base };
  }

  /**
   * Again with the lock held: a remediation of this host that ended while the votes were being
   * counted recorded itself before it let go of the lock, so it is seen now. So is one still running
   * whose lock was lost: it may still be acting on the host. The draft to escalate with, if so.
   */
  async remediatedMeanwhile(event: LzEvent, voted: Draft): Promise<Draft | undefined> {
    const resource = event.host ?? event.resource;
    const found =
      resource === undefined ? undefined : await this.gates.recent.latest(event.service, resource);
    const meanwhile = this.recentRemediation(event, found, true);
    if (meanwhile === undefined) return undefined;
    const { lock: _lock, ...rest } = voted;
    return {
      ...rest,
      gates: { ...voted.gates, remediated: meanwhile },
      decision: 'escalate',
      reason: 'recently_remediated',
    };
  }

  /**
   * The remediation `found` on record for the event's host (or resource), if another event's: ended within
   * its window by this node's clock, or (with `running`) not ended yet.
   */
  private recentRemediation(
    event: LzEvent,
    found: Remediation | undefined,
    running: boolean,
  ): Remediated | undefined {
    if (found === undefined || found.event_id === event.id) return undefined;
    if (found.ended_at === undefined && !running) return undefined;
    // The key's TTL only clears it away later; the window is read on the pipeline's clock.
    const windowMs = parametersOf(this.config.services, event.service).reremediateAfterMs;
    if (found.ended_at !== undefined && Date.parse(found.ended_at) + windowMs <= this.now()) return undefined;
    return { ...found, window_ms: windowMs };
  }
}

function remediatedAlready(base: Draft, rule: CompiledRule, remediated: Remediated): Draft {
  return { ...base, gates: { ...base.gates, remediated }, rule, reason: 'recently_remediated' };
}
