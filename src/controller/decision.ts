/**
 * The record of an event's decision: what was decided, why, and on what evidence (every vote with
 * every check's measurement). Written once per event id, before the shard's checkpoint moves past
 * the event; the audit trail and the REST API read it as it is.
 */
import type { CheckEvidence, Vote, VoteFailure } from '../cluster/quorum.js';
import type { LzEvent } from '../events/schema.js';

export type EscalationReason = 'no_rule' | 'checks_failed' | 'no_quorum' | 'timeout' | 'dependency_down';

/** What each reason means, in words for the human who is paged. */
export const REASON_TEXT: Readonly<Record<EscalationReason, string>> = {
  no_rule: 'no rule of the service matches this event',
  checks_failed: 'the precondition checks failed on enough nodes that no quorum could pass',
  no_quorum: 'not enough nodes could vote (peers unreachable or failing) to reach a quorum',
  timeout: 'the votes did not reach a quorum before the deadline',
  dependency_down: 'a dependency (Redis, the inventory, a peer) could not be reached',
};

export interface DecisionRecord {
  readonly version: 1;
  readonly event_id: string;
  readonly decision: 'act' | 'escalate';
  readonly reason?: EscalationReason;
  readonly reason_text?: string;
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
  readonly quorum: number;
  readonly coordinator: { readonly node: string; readonly zone: string };
  readonly votes: readonly Vote[];
  readonly failures: readonly VoteFailure[];
  /** Votes that arrived after the decision was made (the decision did not wait for them). */
  late_votes?: readonly Vote[];
  late_failures?: readonly VoteFailure[];
  readonly source: { readonly shard: string; readonly sequence: string };
  readonly event_time: string;
  /** When the record arrived in the stream (Kinesis' approximate arrival time). */
  readonly arrived_at: string;
  readonly decided_at: string;
  /** From arrival in the stream to the durable decision. */
  readonly latency_ms: number;
  readonly vote_ms?: number;
  readonly event: LzEvent;
}

export type { CheckEvidence, Vote, VoteFailure };
