/**
 * One line of the event list: what an operator scans for before opening a trace. Built from a
 * decision record (and its run's status), or from a rejected record, which has no decision and is
 * listed as `rejected` with the parse error's code as its reason.
 */
import type { DecisionRecord, Outcome } from '../records/decision.js';
import type { RejectedRecord } from '../records/rejected.js';
import type { RunStatus } from '../workflow/types.js';

/** What the list can filter on: a decision's outcome, or `rejected` for records that were not events. */
export type EventStatus = Outcome | 'rejected';

export const EVENT_STATUSES: readonly EventStatus[] = ['act', 'escalate', 'duplicate', 'rejected'];

export interface EventSummary {
  /**
   * The event id; for a rejected record `rejected:<shard>:<sequence>` (it may have no id), and
   * `rejected:<shard>:<sequence>:<sub-sequence>` for a user record of a KPL aggregated record.
   */
  readonly id: string;
  /** The event's own time (as the sensor wrote it). */
  readonly time: string;
  /** When the decision was recorded (the index's time); for a rejected record, when it was rejected. */
  readonly decided_at: string;
  readonly service: string;
  readonly host?: string;
  readonly resource?: string;
  readonly type: string;
  readonly decision: EventStatus;
  /** The escalation reason; for a rejected record the parse error's code. */
  readonly reason?: string;
  /** The matched rule's id (`service/rule`). */
  readonly rule?: string;
  /** The node that decided (or rejected) it. */
  readonly coordinator: string;
  /** From arrival in the stream to the durable decision. */
  readonly latency_ms?: number;
  /** For a `duplicate`: the event it folds into. */
  readonly duplicate_of?: string;
  /** The status of the event's workflow run, when it has one. */
  readonly run?: RunStatus;
  /** For a rejected record: why. */
  readonly message?: string;
}

export function summarizeDecision(d: DecisionRecord, run?: RunStatus): EventSummary {
  const resource = d.event.resource;
  return {
    id: d.event_id,
    time: d.event_time,
    decided_at: d.decided_at,
    service: d.service,
    ...(d.host === undefined ? {} : { host: d.host }),
    ...(resource === undefined ? {} : { resource }),
    type: d.event_type,
    decision: d.decision,
    ...(d.reason === undefined ? {} : { reason: d.reason }),
    ...(d.rule === undefined ? {} : { rule: d.rule.id }),
    coordinator: d.coordinator.node,
    latency_ms: d.latency_ms,
    ...(d.duplicate_of === undefined ? {} : { duplicate_of: d.duplicate_of }),
    ...(run === undefined ? {} : { run }),
  };
}

/** The listing id of a rejected record. */
export function rejectedId(r: Pick<RejectedRecord, 'shard' | 'sequence' | 'sub_sequence' | 'item'>): string {
  const sub = r.sub_sequence === undefined ? '' : `:${r.sub_sequence}`;
  // `#<item>`: an alert of a sensor's webhook (one record, several rejected alerts).
  return `rejected:${r.shard}:${r.sequence}${sub}${r.item === undefined ? '' : `#${r.item}`}`;
}

/**
 * A rejected record as a list line. What it says about itself (service, host, type, time) is read
 * from its raw bytes when they are JSON, as a hint: it was rejected, so none of it is trusted.
 */
export function summarizeRejected(r: RejectedRecord): EventSummary {
  const hint = rawHint(r.raw);
  return {
    id: rejectedId(r),
    time: hint['time'] ?? r.at,
    decided_at: r.at,
    service: hint['service'] ?? '',
    ...(hint['host'] === undefined ? {} : { host: hint['host'] }),
    ...(hint['resource'] === undefined ? {} : { resource: hint['resource'] }),
    type: hint['type'] ?? '',
    decision: 'rejected',
    reason: r.code,
    coordinator: r.node,
    message: r.message,
  };
}

function rawHint(raw: string): Partial<Record<'time' | 'service' | 'host' | 'resource' | 'type', string>> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return {}; // not JSON, or cut at the size cap
  }
  if (typeof value !== 'object' || value === null) return {};
  const v = value as Record<string, unknown>;
  const out: Partial<Record<'time' | 'service' | 'host' | 'resource' | 'type', string>> = {};
  for (const field of ['time', 'service', 'host', 'resource', 'type'] as const) {
    const x = v[field];
    if (typeof x === 'string' && x.length <= 255) out[field] = x;
  }
  return out;
}
