/**
 * The draft record: what each step found about one event, and the decision record built from it
 * when the event is decided. Nothing here talks to Redis.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CompiledConfig, CompiledRule } from '../config/types.js';
import type { LzEvent } from '../events/schema.js';
import type { StreamRecord } from '../ingest/stream-record.js';
import { REASON_TEXT } from '../records/decision.js';
import type { DecisionRecord, EscalationReason, Outcome } from '../records/decision.js';
import type { Attempt } from './decision-store.js';

/** The decision being built for one event: what each step found. */
export interface Draft {
  readonly decision: Outcome;
  readonly reason?: EscalationReason;
  readonly rule?: CompiledRule;
  readonly votes: DecisionRecord['votes'];
  readonly failures: DecisionRecord['failures'];
  readonly voteMs?: number;
  readonly duplicateOf?: string;
  readonly page?: DecisionRecord['page'];
  readonly ageMs?: number;
  readonly gates?: NonNullable<DecisionRecord['gates']>;
  readonly lock?: NonNullable<DecisionRecord['lock']>;
  readonly error?: string;
  /** Words for the reason when the reason's own would mislead (a person has the page). */
  readonly reasonText?: string;
  /** People have the page (see DecisionRecord.page_taken). */
  readonly pageTaken?: true;
}

/** An escalation that no step voted on: `reason`, with `error` saying why. */
export function escalation(reason: EscalationReason, error: string, page?: DecisionRecord['page']): Draft {
  return {
    decision: 'escalate',
    reason,
    error,
    votes: [],
    failures: [],
    ...(page === undefined ? {} : { page }),
  };
}

/** The draft without its lock, turned into an escalation: nothing acts on it (its lock is let go). */
export function standDown(draft: Draft, change: Pick<Draft, 'reason'> & Partial<Draft>): Draft {
  const { lock: _lock, ...rest } = draft;
  return { ...rest, decision: 'escalate', ...change };
}

/** The draft of an attempt that lost the event's claim: another node decides it; nothing acts here. */
export function claimLost(draft: Draft): Draft {
  return standDown(draft, {
    reason: 'dependency_down',
    error: "this node's claim on the event expired before it could act; another node decides it",
  });
}

/** Builds decision records on one node's behalf. */
export class RecordBuilder {
  constructor(
    private readonly config: CompiledConfig,
    private readonly node: { readonly id: string; readonly zone: string },
    private readonly now: () => number,
  ) {}

  build(record: StreamRecord, event: LzEvent, d: Draft, earlier?: Attempt): DecisionRecord {
    const now = this.now();
    const mode = this.config.services.get(event.service)?.parameters.mode;
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
      ...(d.rule === undefined ? {} : { rule: ruleSummary(d.rule) }),
      ...(d.duplicateOf === undefined ? {} : { duplicate_of: d.duplicateOf }),
      ...(d.ageMs === undefined ? {} : { age_ms: d.ageMs }),
      ...(d.gates === undefined ? {} : { gates: d.gates }),
      ...(d.lock === undefined ? {} : { lock: d.lock }),
      ...(d.error === undefined ? {} : { error: d.error }),
      ...(mode === undefined ? {} : { mode }),
      ...(d.page === undefined ? {} : { page: d.page }),
      quorum: this.config.region.quorum,
      coordinator: { node: this.node.id, zone: this.node.zone },
      votes: d.votes,
      failures: d.failures,
      source: {
        shard: record.shardId,
        sequence: record.sequenceNumber,
        ...(record.subSequence === undefined ? {} : { sub_sequence: record.subSequence }),
      },
      submitted_by: event.submitted_by ?? { via: 'stream' },
      event_time: event.time,
      arrived_at: new Date(record.arrivalMs).toISOString(),
      decided_at: new Date(now).toISOString(),
      latency_ms: Math.max(0, now - record.arrivalMs),
      ...(d.voteMs === undefined ? {} : { vote_ms: d.voteMs }),
      ...(earlier === undefined ? {} : { earlier_attempt: earlier }),
      event,
    };
  }

  /** `build`, or nothing when the event cannot even be built into a record (its shape failed). */
  tryBuild(record: StreamRecord, event: LzEvent, d: Draft, earlier?: Attempt): DecisionRecord | undefined {
    try {
      return this.build(record, event, d, earlier);
    } catch {
      return undefined;
    }
  }
}

function ruleSummary(rule: CompiledRule): NonNullable<DecisionRecord['rule']> {
  return {
    id: rule.id,
    name: rule.name,
    workflow: rule.action.workflow,
    lock: rule.lock,
    checks: rule.checks.map((c) => ({
      name: c.name,
      ...(c.threshold === undefined ? {} : { threshold: c.threshold.value, source: c.threshold.source }),
    })),
  };
}

/** One line per decision in the node's log, with the evidence as fields. */
export function logDecision(d: DecisionRecord, elog: Logger): void {
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
