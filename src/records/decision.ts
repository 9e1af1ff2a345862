/**
 * The record of an event's decision: what was decided, why, and on what evidence (every vote with
 * every check's measurement). Written once per event id, before the shard's checkpoint moves past
 * the event; the audit trail and the REST API read it as it is.
 */
import type { CheckEvidence, Vote, VoteFailure } from '../cluster/quorum.js';
import type { LockRef } from '../common/lock-ref.js';
import type { LzEvent, SubmittedBy } from '../events/schema.js';
import type { Remediation } from '../safety/remediations.js';

export type EscalationReason =
  | 'stale'
  | 'no_rule'
  | 'breaker_open'
  | 'rate_limited'
  | 'checks_failed'
  | 'no_quorum'
  | 'timeout'
  | 'lock_held'
  | 'recently_remediated'
  | 'unprocessable'
  | 'page_resolved'
  | 'dependency_down';

/**
 * `act`: the remediation may start (quorum passed, lock taken). `escalate`: hand over to the humans,
 * with a reason. `duplicate`: the same thing was reported moments ago; this event folds into that
 * event's decision (`duplicate_of`) and is not acted on by itself.
 */
export type Outcome = 'act' | 'escalate' | 'duplicate';

/** What each reason means, in words for the human who is paged. */
export const REASON_TEXT: Readonly<Record<EscalationReason, string>> = {
  stale: 'the event is older than max_event_age: too old to act on',
  no_rule: 'no rule of the service matches this event',
  breaker_open: 'the regional circuit breaker is open: too many services are failing at once to act on any',
  rate_limited:
    'the service has had more events than its rate limit allows in the window: actions are suspended',
  lock_held: 'another remediation holds the lock on this resource',
  recently_remediated:
    'the controller remediated this host recently (within reremediate_after): it does not remediate it again; people decide',
  checks_failed: 'the precondition checks failed on enough nodes that no quorum could pass',
  no_quorum: 'not enough nodes could vote (peers unreachable or failing) to reach a quorum',
  timeout: 'the votes did not reach a quorum before the deadline',
  unprocessable:
    'the controller could not process this event (the error says why): it was set aside and nothing was done',
  page_resolved:
    'the page is resolved already: acknowledging it would reopen it, so the controller did nothing and left the page alone',
  dependency_down: 'a dependency (Redis, the inventory, a peer, PagerDuty) could not be reached',
};

/**
 * The words of a `dependency_down` whose page could not be acknowledged because a person has it (they
 * acknowledged it, or it was escalated past the controller): nothing is down, one actor is enough.
 */
export const PAGE_TAKEN_TEXT =
  'a person already has the page (acknowledged it, or it was escalated past the controller): the controller stood back';

export interface DecisionRecord {
  readonly version: 1;
  readonly event_id: string;
  readonly decision: Outcome;
  readonly reason?: EscalationReason;
  readonly reason_text?: string;
  /**
   * Set when the page could not be acknowledged because people have it (a person acknowledged it,
   * or it was escalated or reassigned past the controller): it stays theirs, whatever else the
   * controller does about the event.
   */
  readonly page_taken?: true;
  readonly service: string;
  readonly host?: string;
  readonly event_type: string;
  readonly rule?: {
    readonly id: string;
    readonly name: string;
    readonly workflow: string;
    readonly lock: string;
    readonly checks: readonly {
      readonly name: string;
      readonly threshold?: unknown;
      readonly source?: string;
    }[];
  };
  /** For a `duplicate`: the event whose decision this one folds into. */
  readonly duplicate_of?: string;
  /** How old the event was when it was read (stale filter). */
  readonly age_ms?: number;
  /** The safety gates as they stood for this event. */
  readonly gates?: {
    readonly rate?: {
      readonly allowed: boolean;
      readonly count: number;
      readonly threshold: number;
      readonly window_ms: number;
    };
    readonly breaker?: {
      readonly open: boolean;
      readonly services: number;
      readonly threshold: number;
      readonly window_ms: number;
      /** While open: when it opened (ISO time), which names the opening (one summary note per page). */
      readonly opened_at?: string;
    };
    /** For `recently_remediated`: the remediation of this host on record, and the window. */
    readonly remediated?: Remediation & { readonly window_ms: number };
  };
  /** The resource lock taken for the remediation (`act`), or the holder that blocked it (`lock_held`). */
  readonly lock?: LockRef & {
    readonly acquired: boolean;
    /**
     * The owner of the lock before: an earlier attempt at this event whose node stopped after
     * taking it (its claim expired), taken over with a new token.
     */
    readonly took_over_from?: string;
  };
  /**
   * An earlier attempt at this event that died before its decision (its claim expired): the node
   * it ran on, the lock it had taken (taken over, or released) and whether it had acknowledged the
   * page (then this decision answers for the page: it escalates it whatever its state).
   */
  readonly earlier_attempt?: {
    readonly node: string;
    readonly lock?: LockRef;
    readonly acknowledged?: boolean;
  };
  /** The service's mode: `notify_only` acts on nothing, whatever the decision says. */
  readonly mode?: 'enforce' | 'notify_only';
  /**
   * The first response to the page: the acknowledgement of an `act` (made before the decision is
   * written; failing it makes the decision `dependency_down`) or the escalation of an `escalate`
   * (made after). Absent when the event has no incident key, or in `notify_only` mode.
   */
  page?: FirstResponse;
  /**
   * For `unprocessable`: the event was set aside (its record's first bytes, base64, and size; the
   * event above is without its data).
   */
  readonly set_aside?: { readonly code: string; readonly raw: string; readonly size: number };
  /** For `dependency_down`: what could not be reached. */
  readonly error?: string;
  readonly quorum: number;
  readonly coordinator: { readonly node: string; readonly zone: string };
  readonly votes: readonly Vote[];
  readonly failures: readonly VoteFailure[];
  /** Votes that arrived after the decision was made (the decision did not wait for them). */
  late_votes?: readonly Vote[];
  late_failures?: readonly VoteFailure[];
  /** Where it was read; `sub_sequence`: the user record's 0-based index in a KPL aggregated record. */
  readonly source: { readonly shard: string; readonly sequence: string; readonly sub_sequence?: number };
  /**
   * Who put the event on the stream: the REST API's stamp as the record carries it (the token's
   * name and the node), or `stream` when it has none (a sensor or `lazarus submit` put it there
   * directly). A stamp is what the record says: a producer with write access to the stream could
   * have written one itself (see SubmittedBy). Absent from records of releases before it was kept.
   */
  readonly submitted_by?: Submitter;
  readonly event_time: string;
  /** When the record arrived in the stream (Kinesis' approximate arrival time). */
  readonly arrived_at: string;
  readonly decided_at: string;
  /** From arrival in the stream to the durable decision. */
  readonly latency_ms: number;
  readonly vote_ms?: number;
  readonly event: LzEvent;
}

/** Who put an event on the stream (DecisionRecord.submitted_by). */
export type Submitter = SubmittedBy | { readonly via: 'stream' };

/** What the controller did with the event's page, and how long after the event's `time`. */
export interface FirstResponse {
  readonly action: 'acknowledge' | 'escalate';
  readonly ok: boolean;
  readonly incident_key: string;
  readonly incident_id?: string;
  /** From the event's `time` (when the sensor paged) until PagerDuty answered. */
  readonly latency_ms: number;
  readonly attempts: number;
  readonly at: string;
  readonly error?: string;
  /** An escalation not made because someone had taken the page already (the evidence is noted). */
  readonly left_as_is?: string;
  /**
   * Not sent: the region's PagerDuty request budget had no room for it before the page's race
   * ended. PagerDuty's own timer escalates the page to the humans.
   */
  readonly left_to_timer?: boolean;
}

export type { CheckEvidence, Vote, VoteFailure };
