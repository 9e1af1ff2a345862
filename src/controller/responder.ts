/**
 * The controller as PagerDuty's first responder, and the voice that tells people what it does.
 *
 * - `acknowledge` (step 8 of the pipeline): once the quorum passed and the lock is held, and before
 *   the decision is written, the page is acknowledged within the 60 s race (the budget starts at the
 *   event's `time`). When that fails the pipeline records `dependency_down` and starts nothing: the
 *   humans are being paged by PagerDuty's own timer, and two actors on one host are worse than none.
 * - `afterDecision`: in the background, so that a slow PagerDuty or chat service never holds up a
 *   shard: the escalation of an `escalate` decision, with the evidence as a note ("assisted
 *   diagnosis"); the notifications (acknowledged, escalated); in `notify_only` mode, no page call at
 *   all and a "would have" message with the planned steps instead.
 * - `runStarted` / `runEnded`: remediation started, resolved, or failed (the page is escalated when
 *   the workflow's own `on_failure` did not, and resolved when the workflow succeeded without a
 *   resolve step of its own).
 *
 * Every page call and notification is an entry in the event's audit trail; the first response (ack
 * or escalation) with its latency from the event's time is in the decision record.
 */
import type { Logger } from 'pino';
import type { PagerPort } from '../actions/definition.js';
import type { AuditEntry, AuditLog } from '../audit/log.js';
import { LzError } from '../common/errors.js';
import type { CompiledConfig, CompiledWorkflow } from '../config/types.js';
import type { LzEvent } from '../events/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import { channelKey, parseChannel } from '../notify/channel.js';
import type { ChannelDirectory } from '../notify/channel-directory.js';
import {
  acknowledgedMessage,
  escalatedMessage,
  evidenceNote,
  remediationStartedMessage,
  resolvedMessage,
  wouldHaveMessage,
} from '../notify/messages.js';
import type { EventSummary, Evidence } from '../notify/messages.js';
import type { DeliveryRecord, NotifyMessage } from '../notify/notifier.js';
import { PagerError, PagerErrorCodes } from '../pager/errors.js';
import type { PagerCallRecord } from '../pager/pagerduty-pager.js';
import type { RunState } from '../workflow/types.js';
import type { DecisionRecord, FirstResponse } from '../records/decision.js';
import type { HeldRecords } from './late-votes.js';

/** Why an escalation left a resolved page alone (also: no evidence note on it). */
const LEFT_RESOLVED = 'the page is resolved: left as it is (any update would reopen it)';

/** A pager whose calls can be budgeted from the event's time (PagerDutyPager). */
export interface EventPager extends PagerPort {
  forEvent(eventTimeMs: number): EventPager;
  calls(): readonly PagerCallRecord[];
  escalate(
    incidentKey: string,
    reason: string,
    signal: AbortSignal,
    options?: { readonly onlyUntaken?: boolean; readonly note?: string },
  ): Promise<{
    incident_id: string;
    escalation_level: number;
    escalated?: boolean;
    left?: 'resolved' | 'taken';
  }>;
}

/**
 * When the 60 s race started: the sensor's page, as the event's `time` says, but never later than
 * the record's arrival in the stream (a sensor clock running ahead must not stretch the budget past
 * PagerDuty's own escalation).
 */
export function raceStart(eventTime: string, arrivedAt: number | string): number {
  const arrival = typeof arrivedAt === 'number' ? arrivedAt : Date.parse(arrivedAt);
  const time = Date.parse(eventTime);
  return Number.isFinite(time) ? Math.min(time, arrival) : arrival;
}

/** Notifications as the responder sends them (Notifier). */
export interface MessageSink {
  send(message: NotifyMessage, signal: AbortSignal): Promise<{ sent: number }>;
}

export interface ResponderOptions {
  readonly config: CompiledConfig;
  /** Absent: PagerDuty is not configured; an event with an incident key is never acted on. */
  readonly pager: EventPager | undefined;
  readonly notifier: MessageSink;
  readonly directory: ChannelDirectory;
  readonly audit: AuditLog;
  readonly metrics?: Metrics;
  readonly node: string;
  readonly log: Logger;
  /**
   * Writes what was learnt after the decision (the escalation) into its record, with the audit
   * entries of that moment in the same round trip; `false` when the stored record is no longer
   * this decision (a newer one replaced it).
   */
  readonly updateDecision: (record: DecisionRecord, entries: readonly AuditEntry[]) => Promise<boolean>;
  /** The late votes: a record the responder updates is held, so that they go in that update. */
  readonly held?: HeldRecords;
  /**
   * Claims, for the whole region, the one summary note a page gets for one opening of the circuit
   * breaker (`true`: this caller writes it). Absent: every breaker escalation notes its page.
   */
  readonly claimBreakerNote?: (openedAtMs: number, incidentKey: string) => Promise<boolean>;
  /** Gives the claim up (the note could not be written): a later event of the page tries again. */
  readonly releaseBreakerNote?: (openedAtMs: number, incidentKey: string) => Promise<void>;
}

/** Page calls after the first response (escalation, note, resolve) get a budget of their own. */
const LATER_CALL_MS = 60_000;

export class Responder {
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly o: ResponderOptions) {}

  /** The service's mode; an unknown service is never acted on, so its mode does not matter. */
  mode(service: string): 'enforce' | 'notify_only' {
    return this.o.config.services.get(service)?.parameters.mode ?? 'enforce';
  }

  /**
   * 8. page: acknowledges the event's page before anything is done about it. Resolves with the
   * first response for the decision record (`undefined`: the event has no incident key, or the
   * service is in `notify_only` mode). Rejects when the page could not be acknowledged: the caller
   * must then not act.
   */
  async acknowledge(
    event: LzEvent,
    arrivalMs: number,
    options: {
      /**
       * A budget from now, not from the event's time: an earlier attempt at the event acknowledged
       * the page (stopping PagerDuty's timer), so nobody is being paged and the race is over.
       */
      readonly fresh?: boolean;
    } = {},
  ): Promise<FirstResponse | undefined> {
    const key = event.incident_key;
    if (key === undefined || this.mode(event.service) === 'notify_only') return undefined;
    if (this.o.pager === undefined)
      throw new PagerError(
        PagerErrorCodes.UNAVAILABLE,
        'PagerDuty is not configured (region.yaml has no pagerduty section): the page cannot be acknowledged',
      );
    const eventTimeMs = raceStart(event.time, arrivalMs);
    const pager = this.o.pager.forEvent(options.fresh === true ? Date.now() : eventTimeMs);
    try {
      const { incident_id } = await pager.acknowledge(key, AbortSignal.timeout(LATER_CALL_MS));
      const response = this.firstResponse('acknowledge', key, pager, eventTimeMs, { incident_id });
      this.o.metrics?.pageAcked(response.latency_ms);
      this.track(this.recordCalls(event.id, pager.calls()));
      return response;
    } catch (error) {
      this.track(this.recordCalls(event.id, pager.calls()));
      throw error;
    }
  }

  /**
   * Whether `afterDecision` will write into the decision's record (the page's escalation): the
   * caller may hold the record for it (see LateVotes).
   */
  updatesRecord(d: DecisionRecord): boolean {
    return (
      d.decision === 'escalate' &&
      d.mode !== 'notify_only' &&
      d.event.incident_key !== undefined &&
      d.reason !== 'page_resolved'
    );
  }

  /** What comes after a durable decision: page escalation, notifications. Never rejects or waits. */
  afterDecision(decision: DecisionRecord, workflow: CompiledWorkflow | undefined): void {
    if (decision.decision === 'duplicate') return;
    // Whatever happens in it, the record is not held past it (late votes then go on their own).
    this.track(this.respond(decision, workflow).finally(() => this.o.held?.letGo(decision)));
  }

  /** The workflow run has started. */
  runStarted(run: RunState, workflow: CompiledWorkflow | undefined): void {
    const event = summaryOf(run.event);
    this.track(
      this.notify(
        run.event,
        'remediation_started',
        remediationStartedMessage(event, {
          workflow: run.workflow,
          steps: planOf(workflow),
          runId: run.id,
        }),
      ),
    );
  }

  /**
   * The decision was `act` and the page acknowledged, but the workflow could not be started (the
   * node lacks it, Redis failed): the page goes back to the humans, who are told why.
   */
  notStarted(d: DecisionRecord, error: string): void {
    this.track(
      (async () => {
        const key = d.event.incident_key;
        await this.entry(d.event_id, { kind: 'workflow', action: 'not_started', ok: false, error });
        if (key !== undefined && d.mode !== 'notify_only')
          await this.escalate(d.event, key, `the remediation could not be started: ${error}`, {});
        await this.notify(
          { ...d.event },
          'escalated',
          escalatedMessage(summaryOf({ ...d.event }), {
            reason: 'workflow_failed',
            reasonText: 'the remediation could not be started',
            evidence: {
              ...evidenceOf(d),
              error,
              ...(d.rule === undefined ? {} : { workflow: d.rule.workflow }),
            },
          }),
        );
      })(),
    );
  }

  /** The run ended: tell people, and make sure the page follows the outcome. */
  runEnded(run: RunState, workflow: CompiledWorkflow | undefined): void {
    this.track(this.afterRun(run, workflow));
  }

  /** A notification's delivery ended: its outcome goes into the event's trail. */
  delivered(record: DeliveryRecord, message: NotifyMessage): void {
    if (message.eventId === undefined) return;
    this.track(
      this.entry(message.eventId, {
        kind: 'notify',
        action: 'delivery',
        ok: record.status === 'delivered',
        ...(record.error === undefined ? {} : { error: record.error }),
        detail: { channel: record.channel, status: record.status, attempts: record.attempts },
        ...(record.settledAt === undefined ? {} : { latency_ms: record.settledAt - record.queuedAt }),
      }),
    );
  }

  /** Waits for the page calls and notifications in progress (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private async respond(d: DecisionRecord, workflow: CompiledWorkflow | undefined): Promise<void> {
    const event = summaryOf({ ...d.event });
    const evidence = evidenceOf(d);
    if (d.mode === 'notify_only') {
      await this.notify(
        { ...d.event },
        'would_have',
        wouldHaveMessage(event, {
          workflow: d.rule?.workflow ?? '',
          steps: planOf(workflow),
          evidence,
          ...(d.decision === 'escalate' && d.reason !== undefined
            ? { reason: d.reason, ...(d.reason_text === undefined ? {} : { reasonText: d.reason_text }) }
            : {}),
        }),
      );
      return;
    }
    if (d.decision === 'act') {
      // Without a page (no incident key) there is nothing acknowledged; "remediation started" follows.
      if (d.page?.ok !== true) return;
      await this.notify(
        { ...d.event },
        'acknowledged',
        acknowledgedMessage(event, { workflow: d.rule?.workflow ?? '', evidence }),
      );
      return;
    }
    // escalate
    const reason = d.reason ?? 'dependency_down';
    const key = d.event.incident_key;
    const message = (): string =>
      escalatedMessage(event, {
        reason,
        ...(d.reason_text === undefined ? {} : { reasonText: d.reason_text }),
        evidence,
      });
    // Whether the page has the evidence note; undefined while that is not known yet.
    let noted: boolean | undefined = key === undefined || reason === 'page_resolved' ? false : undefined;
    let notified = false;
    // The page calls' audit entries, written with the record's update (one round trip), and with
    // them the notification's when it is only an entry (the page was its one channel, and has the
    // note); else the note's and the notification's, together at the end (another).
    const trail: AuditEntry[] = [];
    try {
      // A resolved page is not touched at all: any update would reopen it.
      if (key !== undefined && reason !== 'page_resolved') {
        // No reason note with the escalation: the evidence note says why, and more.
        // A page this event had acknowledged (then could not act: Redis went away) goes to the humans
        // whatever its state; otherwise only a page nobody has taken is escalated.
        // So is a page an earlier attempt at this event acknowledged before it died: nobody else
        // answers for it, and its acknowledgement stopped PagerDuty's timer (a budget from now).
        // Not when this attempt found that a person has the page now: it stays theirs.
        const inherited = d.earlier_attempt?.acknowledged === true && d.page_taken !== true;
        const ours = (d.page?.action === 'acknowledge' && d.page.ok) || inherited;
        // The evidence goes on the page even when PagerDuty's own timer did the escalating; never on a
        // resolved one. In a breaker storm, one summary note per page and opening instead (claimed
        // first): the region's request budget is for escalations, and every event is in the audit
        // trail. The note goes with the escalation (its request budgeted with it, its entries in the
        // same update of the record); on its own only when the escalation never got to it.
        const breakerNote = reason === 'breaker_open' ? await this.breakerNoteFor(d, key, trail) : undefined;
        const noteText =
          breakerNote === undefined
            ? evidenceNote(event, { decision: d.decision, reason, evidence })
            : 'text' in breakerNote
              ? breakerNote.text
              : undefined;
        const { response: page, noted: notedWith } = await this.escalate(
          d.event,
          key,
          '',
          {
            first: inherited ? Date.now() : raceStart(d.event_time, d.arrived_at),
            onlyUntaken: !ours,
            ...(noteText === undefined ? {} : { note: noteText }),
          },
          trail,
        );
        const resolved = page?.left_as_is === LEFT_RESOLVED;
        if (page !== undefined) d.page = page;
        if (breakerNote !== undefined && 'noted' in breakerNote) noted = !resolved && breakerNote.noted;
        else if (resolved || noteText === undefined) noted = false;
        else noted = notedWith;
        // Known now, and nothing to send: the notification's entry goes in the record's update.
        if (noted !== undefined)
          notified = this.notifiedByPage(
            { ...d.event },
            'escalated',
            message(),
            noted,
            trail,
            breakerNote !== undefined && 'as' in breakerNote ? breakerNote : undefined,
          );
        await this.updateRecord(d, page !== undefined, trail.splice(0));
        noted ??= await this.note(d.event_id, key, noteText ?? '', trail);
        // A breaker note claimed and not written: the next event's page may have it.
        if (breakerNote !== undefined && 'text' in breakerNote && !noted) await breakerNote.release();
      }
      // When the page has the evidence note already, the other channels get the message.
      if (!notified) await this.notify({ ...d.event }, 'escalated', message(), noted ?? false, trail);
    } finally {
      // Held by the pipeline for this update, whatever happened to it (late votes wait on it).
      if (this.o.held?.release(d) === true) await this.updateRecord(d, true, []);
      await this.o.audit.appendAll(d.event_id, trail);
    }
  }

  /**
   * The record's update (when `changed`, or late votes were put on it during the hold), with the
   * audit entries of the moment; the entries alone otherwise. Never rejects.
   */
  private async updateRecord(d: DecisionRecord, changed: boolean, entries: AuditEntry[]): Promise<void> {
    const lateVotes = this.o.held?.release(d) === true;
    if (!changed && !lateVotes) {
      await this.o.audit.appendAll(d.event_id, entries);
      return;
    }
    await this.o.updateDecision(d, entries).then(
      (updated) => {
        if (!updated)
          this.o.log.warn(
            { event: d.event_id },
            'the escalation was not added to the decision record: another decision replaced it',
          );
      },
      (error: unknown) => {
        this.o.log.warn(
          { err: error, event: d.event_id, entries },
          'the escalation could not be added to the decision record',
        );
      },
    );
  }

  private async afterRun(run: RunState, workflow: CompiledWorkflow | undefined): Promise<void> {
    const event = summaryOf(run.event);
    const key = typeof run.event['incident_key'] === 'string' ? run.event['incident_key'] : undefined;
    const pageSteps = (action: string): boolean =>
      Object.values(run.steps).some(
        (s) =>
          s.status === 'succeeded' &&
          [...(workflow?.steps ?? []), ...(workflow?.onFailure ?? [])].some(
            (step) => step.id === s.id && step.action === action,
          ),
      );
    if (run.status === 'succeeded') {
      if (key !== undefined && !pageSteps('pagerduty.resolve')) await this.resolve(run.event.id, key, run);
      await this.notify(
        run.event,
        'resolved',
        resolvedMessage(event, {
          workflow: run.workflow,
          ...(run.finished_at === undefined
            ? {}
            : { durationMs: Date.parse(run.finished_at) - Date.parse(run.started_at) }),
        }),
      );
      return;
    }
    if (run.status !== 'failed') return;
    const failure = run.failure;
    const why = `${run.workflow} failed${failure === undefined ? '' : ` at step ${failure.step}: ${failure.message}`}`;
    if (key !== undefined && !pageSteps('pagerduty.escalate'))
      await this.escalate(run.event as unknown as LzEvent, key, `workflow_failed: ${why}`, {});
    await this.notify(
      run.event,
      'escalated',
      escalatedMessage(event, {
        reason: 'workflow_failed',
        evidence: {
          workflow: run.workflow,
          ...(failure === undefined ? {} : { failedStep: failure.step, error: failure.message }),
        },
      }),
    );
  }

  /**
   * Escalates the page, never rejects. `first`: the decision's first response, budgeted from this
   * start of the race (otherwise a budget of its own). `onlyUntaken`: leave a page someone has
   * taken as it is (see PagerDutyPager.escalate). `note`: added after the escalation, or to a page
   * left as it is because it is taken; `noted` says whether it was (`undefined`: not tried).
   */
  private async escalate(
    event: LzEvent,
    key: string,
    reason: string,
    how: { first?: number; onlyUntaken?: boolean; note?: string },
    trail?: AuditEntry[],
  ): Promise<{ response: FirstResponse | undefined; noted?: boolean }> {
    if (this.o.pager === undefined) {
      await this.entry(
        event.id,
        {
          kind: 'page',
          action: 'escalate',
          ok: false,
          error: 'PagerDuty is not configured; PagerDuty escalates by its own timer',
        },
        trail,
      );
      return { response: undefined };
    }
    const eventTimeMs = how.first ?? Date.now();
    const pager = this.o.pager.forEvent(eventTimeMs);
    const noted = (): { noted?: boolean } => {
      const call = pager.calls().find((c) => c.verb === 'note');
      return call === undefined ? {} : { noted: call.ok };
    };
    try {
      const {
        incident_id,
        escalated,
        left: why,
      } = await pager.escalate(key, reason, AbortSignal.timeout(LATER_CALL_MS), {
        ...(how.onlyUntaken === true ? { onlyUntaken: true } : {}),
        ...(how.note === undefined ? {} : { note: how.note }),
      });
      const left =
        escalated !== false
          ? undefined
          : why === 'resolved'
            ? LEFT_RESOLVED
            : 'the page was taken already (acknowledged, or assigned past the controller): left as it is, evidence noted';
      if (left !== undefined)
        await this.entry(
          event.id,
          { kind: 'page', action: 'not_escalated', ok: true, detail: { incident_id, why: left } },
          trail,
        );
      return {
        response: this.firstResponse('escalate', key, pager, eventTimeMs, {
          incident_id,
          ...(left === undefined ? {} : { left }),
        }),
        ...noted(),
      };
    } catch (error) {
      this.o.log.warn(
        { err: error, event: event.id },
        'the page could not be escalated; PagerDuty escalates by its own timer',
      );
      return {
        response: this.firstResponse('escalate', key, pager, eventTimeMs, {
          error: messageOf(error),
          // Only a page in its race has a timer running; one the controller holds has none.
          ...(isOverBudget(error) && how.onlyUntaken === true ? { leftToTimer: true } : {}),
        }),
        ...noted(),
      };
    } finally {
      await this.recordCalls(event.id, pager.calls(), trail);
    }
  }

  private async resolve(eventId: string, key: string, run: RunState): Promise<void> {
    if (this.o.pager === undefined) return;
    const pager = this.o.pager.forEvent(Date.now());
    try {
      await pager.resolve(
        key,
        `Remediated by Lazarus (${run.workflow}, run ${run.id}).`,
        // In no race: it may wait out a storm in the request budget (see PagerDutyPager).
        AbortSignal.timeout(5 * LATER_CALL_MS),
      );
    } catch (error) {
      this.o.log.warn({ err: error, event: eventId }, 'the page could not be resolved');
    } finally {
      await this.recordCalls(eventId, pager.calls());
    }
  }

  /**
   * The breaker's summary note on this page, once for the region per opening of the breaker (and
   * page). `true` when the page has it (this event's or an earlier one's), so the other channels
   * get the message and the page gets no second note.
   */
  private async breakerNoteFor(
    d: DecisionRecord,
    key: string,
    trail?: AuditEntry[],
  ): Promise<{ noted: boolean; as: string; ok: boolean } | { text: string; release: () => Promise<void> }> {
    const breaker = d.gates?.breaker;
    const openedAt = breaker?.opened_at === undefined ? 0 : Date.parse(breaker.opened_at);
    if (this.o.claimBreakerNote !== undefined) {
      let first: boolean;
      try {
        first = await this.o.claimBreakerNote(openedAt, key);
      } catch (error) {
        // Redis cannot say whether the page has it: no note, rather than one per event in a storm.
        this.o.log.warn(
          { err: error, event: d.event_id },
          'the breaker note could not be claimed: none is added',
        );
        await this.entry(
          d.event_id,
          {
            kind: 'page',
            action: 'note_skipped',
            ok: false,
            error: `the breaker note could not be claimed: ${messageOf(error)}`,
            detail: { incident_key: key },
          },
          trail,
        );
        // Not noted, and not sent through the page either: in a storm that would note it per event.
        return { noted: true, as: 'nothing: the breaker note could not be claimed', ok: false };
      }
      if (!first) {
        await this.entry(
          d.event_id,
          {
            kind: 'page',
            action: 'note_skipped',
            ok: true,
            detail: {
              incident_key: key,
              why: 'the page has the breaker summary note of this opening already',
            },
          },
          trail,
        );
        return { noted: true, as: 'the breaker summary note the page has already', ok: true };
      }
    }
    const since = breaker?.opened_at === undefined ? '' : ` since ${breaker.opened_at}`;
    const text =
      `Lazarus: the region's circuit breaker is open${since}: ${breaker?.services ?? '?'} services failed within ` +
      `${Math.round((breaker?.window_ms ?? 0) / 60_000)} min (threshold ${breaker?.threshold ?? '?'}). Nothing is ` +
      'remediated in the region until it closes; this page is for people. This note is written once per page ' +
      `for this opening; every event is in Lazarus's audit trail (first here: ${d.event_id}, ${d.event.type} on ` +
      `${d.event.host ?? d.event.resource ?? d.event.service}).`;
    return {
      text,
      release: async () => {
        await this.o.releaseBreakerNote?.(openedAt, key).catch((error: unknown) => {
          this.o.log.warn({ err: error, event: d.event_id }, 'the breaker note claim could not be given up');
        });
      },
    };
  }

  /** Adds a note to the page; `true` when it was added. */
  private async note(eventId: string, key: string, text: string, trail?: AuditEntry[]): Promise<boolean> {
    if (this.o.pager === undefined) return false;
    const pager = this.o.pager.forEvent(Date.now());
    try {
      await pager.note(key, text, AbortSignal.timeout(LATER_CALL_MS));
      return true;
    } catch (error) {
      this.o.log.warn({ err: error, event: eventId }, 'the evidence note could not be added to the page');
      return false;
    } finally {
      await this.recordCalls(eventId, pager.calls(), trail);
    }
  }

  private firstResponse(
    action: FirstResponse['action'],
    key: string,
    pager: EventPager,
    eventTimeMs: number,
    outcome: { incident_id?: string; error?: string; left?: string; leftToTimer?: boolean },
  ): FirstResponse {
    const calls = pager.calls().filter((c) => c.verb === action);
    const last = calls.at(-1);
    const at = last === undefined ? Date.now() : last.startedAt + last.latencyMs;
    return {
      action,
      ok: outcome.error === undefined,
      incident_key: key,
      ...(outcome.incident_id === undefined ? {} : { incident_id: outcome.incident_id }),
      latency_ms: Math.max(0, at - eventTimeMs),
      attempts: calls.reduce((n, c) => n + c.attempts, 0),
      at: new Date(at).toISOString(),
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      ...(outcome.left === undefined ? {} : { left_as_is: outcome.left }),
      ...(outcome.leftToTimer === true ? { left_to_timer: true } : {}),
    };
  }

  /** The calls' audit entries: onto `trail` when given, else written in one round trip. */
  private async recordCalls(
    eventId: string,
    calls: readonly PagerCallRecord[],
    trail?: AuditEntry[],
  ): Promise<void> {
    const entries = calls.map((call): AuditEntry => ({
      at: new Date(call.startedAt + call.latencyMs).toISOString(),
      node: this.o.node,
      kind: 'page',
      action: call.verb,
      ok: call.ok,
      latency_ms: call.latencyMs,
      ...(call.error === undefined ? {} : { error: call.error }),
      detail: {
        incident_key: call.incidentKey,
        ...(call.incidentId === undefined ? {} : { incident_id: call.incidentId }),
        attempts: call.attempts,
        since_event_ms: call.sinceBudgetStartMs,
        ...(call.code === undefined ? {} : { code: call.code }),
        ...(call.code === PagerErrorCodes.OVER_BUDGET ? { left_to_timer: true } : {}),
      },
    }));
    if (trail !== undefined) trail.push(...entries);
    else await this.o.audit.appendAll(eventId, entries);
  }

  /**
   * Hands a message to the service's channels (a `pagerduty` channel notes it on the event's page);
   * `pageHasIt`: the page has this already (as the evidence note), so it goes to the others only.
   */
  private async notify(
    event: Readonly<Record<string, unknown>>,
    kind: string,
    text: string,
    pageHasIt = false,
    trail?: AuditEntry[],
  ): Promise<void> {
    const eventId = String(event['id']);
    const service = String(event['service']);
    const incidentKey = typeof event['incident_key'] === 'string' ? event['incident_key'] : undefined;
    const others = pageHasIt ? this.besidesThePage(service) : undefined;
    if (others?.length === 0) {
      const only = this.pageOnlyEntry(kind, text);
      if (trail !== undefined) trail.push(only);
      else await this.o.audit.append(eventId, only);
      return;
    }
    const full: NotifyMessage = {
      service,
      text,
      eventId,
      ...(incidentKey === undefined ? {} : { incidentKey }),
      ...(others === undefined ? {} : { channels: others }),
    };
    const channels = this.o.directory.recipients(full).addresses.map(channelKey);
    try {
      const { sent } = await this.o.notifier.send(full, AbortSignal.timeout(LATER_CALL_MS));
      await this.entry(
        eventId,
        {
          kind: 'notify',
          action: kind,
          ok: sent > 0,
          ...(sent > 0 ? {} : { error: 'no channel took the message (see the node log)' }),
          detail: { channels, headline: text.split('\n')[0] ?? '' },
        },
        trail,
      );
    } catch (error) {
      await this.entry(eventId, { kind: 'notify', action: kind, ok: false, error: messageOf(error) }, trail);
    }
  }

  /**
   * When the page was the service's one channel and has the message already (as the evidence
   * note), the notification is only its audit entry: put onto `trail`, and true. False when a
   * channel is left to send to (nothing is put onto `trail` then).
   */
  private notifiedByPage(
    event: Readonly<Record<string, unknown>>,
    kind: string,
    text: string,
    pageHasIt: boolean,
    trail: AuditEntry[],
    /** What the page has instead of the evidence note (the breaker's summary note, or nothing). */
    has?: { readonly as: string; readonly ok: boolean },
  ): boolean {
    if (!pageHasIt || this.besidesThePage(String(event['service'])).length > 0) return false;
    trail.push(this.pageOnlyEntry(kind, text, has));
    return true;
  }

  /** The service's channels other than its page. */
  private besidesThePage(service: string): string[] {
    return this.o.directory.serviceChannels(service).filter((c) => parseChannel(c)?.kind !== 'pagerduty');
  }

  /** The entry of a notification the page was the one channel for, and has (`as`). */
  private pageOnlyEntry(
    kind: string,
    text: string,
    has: { readonly as: string; readonly ok: boolean } = { as: 'the evidence note', ok: true },
  ): AuditEntry {
    return {
      at: new Date().toISOString(),
      node: this.o.node,
      kind: 'notify',
      action: kind,
      ok: has.ok,
      detail: { channels: ['pagerduty'], headline: text.split('\n')[0] ?? '', as: has.as },
    };
  }

  /** An audit entry: onto `trail` when given (written later with others), else written now. */
  private async entry(
    eventId: string,
    e: Omit<AuditEntry, 'at' | 'node'> & { at?: string },
    trail?: AuditEntry[],
  ): Promise<void> {
    const full: AuditEntry = { at: new Date().toISOString(), node: this.o.node, ...e };
    if (trail !== undefined) trail.push(full);
    else await this.o.audit.append(eventId, full);
  }

  private track(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => this.o.log.error({ err: error }, 'responder: unexpected failure'))
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }
}

/** Whether a page call was not sent because the region's request budget had no room in time. */
export function isOverBudget(error: unknown): boolean {
  return error instanceof LzError && error.code === PagerErrorCodes.OVER_BUDGET;
}

/** Whether an error means PagerDuty could not be reached in time (as opposed to a refusal). */
export function isPagerUnavailable(error: unknown): boolean {
  return error instanceof LzError && error.code === PagerErrorCodes.UNAVAILABLE;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function summaryOf(event: Readonly<Record<string, unknown>>): EventSummary {
  const text = (k: string): string | undefined => (typeof event[k] === 'string' ? event[k] : undefined);
  const host = text('host') ?? text('resource');
  const incidentKey = text('incident_key');
  return {
    service: text('service') ?? '',
    eventType: text('type') ?? '',
    eventId: text('id') ?? '',
    ...(host === undefined ? {} : { host }),
    ...(incidentKey === undefined ? {} : { incidentKey }),
  };
}

function evidenceOf(d: DecisionRecord): Evidence {
  return {
    votes: d.votes,
    failures: d.failures,
    quorum: d.quorum,
    ...(d.error === undefined ? {} : { error: d.error }),
  };
}

/** The workflow's main steps in order, as "id (action)". */
function planOf(workflow: CompiledWorkflow | undefined): string[] {
  return (workflow?.steps ?? []).map((s) => `${s.id} (${s.action})`);
}
