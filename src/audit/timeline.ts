/**
 * An event's trace as one timeline, in the order things happened: received, parsed, stale check,
 * dedup, rule match, gates, each node's vote, lock, decision, page calls, notifications, the workflow
 * and each of its steps. Built on read from the three places the trail lives (the decision record,
 * the audit entries, the workflow run), so that the console, the CLI and a postmortem read the same
 * story in the same words.
 */
import { formatDuration } from '../common/duration.js';
import type { DecisionRecord, Submitter } from '../records/decision.js';
import type { RunState } from '../workflow/types.js';
import type { AuditEntry } from './log.js';

export type TimelineStage =
  | 'received'
  | 'parsed'
  | 'stale'
  | 'dedup'
  | 'match'
  | 'gates'
  | 'vote'
  | 'lock'
  | 'decision'
  | 'page'
  | 'notify'
  | 'workflow'
  | 'step';

export interface TimelineEntry {
  /** ISO time. */
  readonly at: string;
  readonly stage: TimelineStage;
  /** The node that did it. */
  readonly node?: string;
  /** Passed (or succeeded) / failed, where that applies. */
  readonly ok?: boolean;
  /** One line for people. */
  readonly title: string;
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly duration_ms?: number;
}

export function buildTimeline(
  d: DecisionRecord,
  run: RunState | undefined,
  audit: readonly AuditEntry[],
): TimelineEntry[] {
  const node = d.coordinator.node;
  const received = d.arrived_at;
  const decided = d.decided_at;
  const submitter = d.submitted_by;
  const head: TimelineEntry[] = [
    {
      at: received,
      stage: 'received',
      node,
      title:
        `read from ${d.source.shard} at sequence ${d.source.sequence}` +
        (d.source.sub_sequence === undefined
          ? ''
          : ` (user record ${d.source.sub_sequence} of a KPL aggregated record)`) +
        ` by node ${node} (${d.coordinator.zone})` +
        (submitter === undefined ? '' : `; submitted ${submitterText(submitter)}`),
      detail: {
        shard: d.source.shard,
        sequence: d.source.sequence,
        ...(d.source.sub_sequence === undefined ? {} : { sub_sequence: d.source.sub_sequence }),
        event_time: d.event_time,
        ...(submitter === undefined ? {} : { submitted_by: submitter }),
      },
    },
    { at: received, stage: 'parsed', node, ok: true, title: `a valid ${d.event_type} event` },
  ];
  if (d.age_ms !== undefined || d.reason === 'stale') {
    const age = d.age_ms ?? 0;
    const stale = d.reason === 'stale';
    head.push({
      at: received,
      stage: 'stale',
      node,
      ok: !stale,
      title: stale
        ? `stale: ${d.error ?? `the event was ${formatDuration(Math.abs(age))} old`}`
        : `fresh: ${age >= 0 ? `${formatDuration(age)} old` : `${formatDuration(-age)} ahead, within clock skew`}`,
      detail: { age_ms: age },
    });
  }
  if (d.reason === 'stale') return [...head, decisionEntry(d), ...after(d, run, audit)];

  if (d.decision === 'duplicate') {
    head.push({
      at: decided,
      stage: 'dedup',
      node,
      ok: false,
      title: `folded into event ${d.duplicate_of ?? '?'}: the same report within the dedup window`,
      detail: { duplicate_of: d.duplicate_of },
    });
    return [...head, decisionEntry(d)];
  }
  if (d.gates !== undefined || d.rule !== undefined)
    head.push({
      at: received,
      stage: 'dedup',
      node,
      ok: true,
      title: 'first report of this within the dedup window',
    });

  if (d.rule !== undefined) {
    head.push({
      at: received,
      stage: 'match',
      node,
      ok: true,
      title: `rule ${d.rule.id} matches (${d.service}, ${d.event_type}): workflow ${d.rule.workflow}, lock ${d.rule.lock}`,
      detail: { rule: d.rule },
    });
  } else if (d.reason === 'no_rule') {
    head.push({
      at: received,
      stage: 'match',
      node,
      ok: false,
      title: `no rule of ${d.service} matches ${d.event_type}`,
    });
  }
  const gates = d.gates;
  if (gates !== undefined && d.rule !== undefined) {
    const rate = gates.rate;
    const breaker = gates.breaker;
    const parts: string[] = [];
    if (rate !== undefined)
      parts.push(
        `rate ${rate.count}/${rate.threshold} in ${formatDuration(rate.window_ms)}${rate.allowed ? '' : ' (over the limit)'}`,
      );
    if (breaker !== undefined)
      parts.push(
        `breaker ${breaker.open ? 'OPEN' : 'closed'} (${breaker.services}/${breaker.threshold} services failing in ${formatDuration(breaker.window_ms)})`,
      );
    const remediated = gates.remediated;
    if (remediated !== undefined) parts.push(remediatedText(remediated));
    head.push({
      at: received,
      stage: 'gates',
      node,
      ok: (rate?.allowed ?? true) && !(breaker?.open ?? false) && remediated === undefined,
      title: parts.join('; '),
      detail: { ...gates },
    });
  }
  for (const vote of d.votes) {
    head.push({
      at: decided,
      stage: 'vote',
      node: vote.node,
      ok: vote.pass,
      title: `${vote.node} (${vote.zone}) votes ${vote.pass ? 'pass' : 'fail'}: ${checksLine(vote.checks)}`,
      detail: { zone: vote.zone, checks: vote.checks },
      duration_ms: vote.durationMs,
    });
  }
  for (const failure of d.failures)
    head.push({
      at: decided,
      stage: 'vote',
      node: failure.node,
      ok: false,
      title: `${failure.node} could not vote: ${failure.error}`,
    });
  if (d.lock !== undefined) {
    head.push({
      at: decided,
      stage: 'lock',
      node,
      ok: d.lock.acquired,
      title: d.lock.acquired
        ? `lock ${d.lock.resource} taken (fencing token ${d.lock.token})${d.lock.took_over_from === undefined ? '' : `, over from ${d.lock.took_over_from}, an earlier attempt at this event`}`
        : `lock ${d.lock.resource} is held by ${d.lock.owner}`,
      detail: { ...d.lock },
    });
  }
  if (d.page?.action === 'acknowledge') head.push(pageEntry(d, d.page));
  return [...head, decisionEntry(d), ...after(d, run, audit)];
}

/**
 * Who put the event on the stream, in words that follow "submitted": `through node b's REST API
 * with token nagios`, or `directly to the stream, not through the REST API`. A stamp is shown as
 * the record carries it: one that a producer wrote itself onto the stream reads the same (the
 * stream's writers are trusted; see SubmittedBy in events/schema.ts).
 */
export function submitterText(s: Submitter): string {
  return s.via === 'api'
    ? `through node ${s.node}'s REST API with token ${s.token}`
    : 'directly to the stream, not through the REST API';
}

/** "2/3 checks pass (failed: HealthCheckDown)" */
function checksLine(checks: DecisionRecord['votes'][number]['checks']): string {
  const failed = checks.filter((c) => !c.pass).map((c) => c.name);
  return `${checks.length - failed.length}/${checks.length} checks pass${failed.length === 0 ? '' : ` (failed: ${failed.join(', ')})`}`;
}

function decisionEntry(d: DecisionRecord): TimelineEntry {
  const title =
    d.decision === 'act'
      ? `act${d.mode === 'notify_only' ? ' (notify_only: nothing is done)' : ''}: ${d.votes.filter((v) => v.pass).length} of ${d.votes.length + d.failures.length} votes pass (${d.quorum} needed)`
      : d.decision === 'duplicate'
        ? `duplicate of ${d.duplicate_of ?? '?'}`
        : `escalate (${d.reason ?? '?'}): ${d.reason_text ?? ''}${d.error === undefined || d.reason === 'stale' ? '' : ` — ${d.error}`}`;
  return {
    at: d.decided_at,
    stage: 'decision',
    node: d.coordinator.node,
    ok: d.decision === 'act',
    title,
    duration_ms: d.latency_ms,
  };
}

function pageEntry(d: DecisionRecord, page: NonNullable<DecisionRecord['page']>): TimelineEntry {
  return {
    at: page.at,
    stage: 'page',
    node: d.coordinator.node,
    ok: page.ok,
    title:
      page.left_to_timer === true
        ? `${page.action} of ${page.incident_key} left to PagerDuty's timer: the region's request budget had no room before the race ended`
        : `${page.action} incident ${page.incident_id ?? page.incident_key}: ${page.ok ? 'done' : `failed (${page.error ?? '?'})`} ${formatDuration(page.latency_ms)} after the event, ${page.attempts} attempt${page.attempts === 1 ? '' : 's'}`,
    detail: { ...page },
  };
}

/** What came after the decision: audit entries, late votes, the workflow, sorted by time. */
function after(d: DecisionRecord, run: RunState | undefined, audit: readonly AuditEntry[]): TimelineEntry[] {
  const rest: TimelineEntry[] = [];
  for (const vote of d.late_votes ?? [])
    rest.push({
      at: d.decided_at,
      stage: 'vote',
      node: vote.node,
      ok: vote.pass,
      title: `${vote.node} (${vote.zone}) voted ${vote.pass ? 'pass' : 'fail'} after the decision: ${checksLine(vote.checks)}`,
      detail: { zone: vote.zone, checks: vote.checks, late: true },
      duration_ms: vote.durationMs,
    });
  for (const entry of audit) {
    // The acknowledgement is on the timeline already, from the record, before the decision.
    if (
      entry.kind === 'page' &&
      entry.action === 'acknowledge' &&
      entry.ok &&
      entry.node === d.coordinator.node &&
      d.page?.action === 'acknowledge'
    )
      continue;
    rest.push({
      at: entry.at,
      stage: entry.kind === 'notify' ? 'notify' : entry.kind === 'page' ? 'page' : 'workflow',
      node: entry.node,
      ok: entry.ok,
      title: auditTitle(entry),
      ...(entry.detail === undefined ? {} : { detail: entry.detail }),
      ...(entry.latency_ms === undefined ? {} : { duration_ms: entry.latency_ms }),
    });
  }
  if (run !== undefined) {
    rest.push({
      at: run.started_at,
      stage: 'workflow',
      node: run.nodes[0] ?? '',
      title: `workflow ${run.workflow} started (run ${run.id})`,
      detail: { nodes: run.nodes, deadline_at: run.deadline_at },
    });
    for (const step of Object.values(run.steps)) {
      if (step.started_at === undefined && step.status !== 'skipped') continue;
      rest.push({
        at: step.started_at ?? step.finished_at ?? run.started_at,
        stage: 'step',
        ...(step.node === undefined ? {} : { node: step.node }),
        ...(step.status === 'running' || step.status === 'pending'
          ? {}
          : { ok: step.status === 'succeeded' || step.status === 'skipped' }),
        title: `${step.phase === 'on_failure' ? 'on_failure ' : ''}${step.id}: ${step.status}${step.attempts > 1 ? ` after ${step.attempts} attempts` : ''}${step.error === undefined ? '' : ` — ${step.error}`}`,
        detail: {
          status: step.status,
          attempts: step.attempts,
          ...(step.outputs === undefined ? {} : { outputs: step.outputs }),
        },
        ...(step.duration_ms === undefined ? {} : { duration_ms: step.duration_ms }),
      });
    }
    if (run.finished_at !== undefined)
      rest.push({
        at: run.finished_at,
        stage: 'workflow',
        ok: run.status === 'succeeded',
        title:
          run.status === 'succeeded'
            ? `workflow ${run.workflow} succeeded`
            : `workflow ${run.workflow} failed${run.failure === undefined ? '' : ` at ${run.failure.step}: ${run.failure.message}`}`,
        duration_ms: Date.parse(run.finished_at) - Date.parse(run.started_at),
      });
  }
  // Stable: entries of one time keep the order above.
  return rest
    .map((e, i) => ({ e, i, t: Date.parse(e.at) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map(({ e }) => e);
}

function auditTitle(e: AuditEntry): string {
  if (e.kind === 'notify' && e.action === 'delivery') {
    const channel = typeof e.detail?.['channel'] === 'string' ? e.detail['channel'] : '?';
    const status = typeof e.detail?.['status'] === 'string' ? e.detail['status'] : '?';
    const attempts = typeof e.detail?.['attempts'] === 'number' ? e.detail['attempts'] : 0;
    return `${channel}: ${status}${attempts > 1 ? ` after ${attempts} attempts` : ''}${e.error === undefined ? '' : ` (${e.error})`}`;
  }
  if (e.kind === 'notify') {
    const channels = Array.isArray(e.detail?.['channels']) ? (e.detail['channels'] as string[]) : [];
    return `notification "${e.action}" ${e.ok ? `handed to ${channels.length === 0 ? 'no channel' : channels.join(', ')}` : `not sent: ${e.error ?? '?'}`}`;
  }
  if (e.kind === 'page' && e.action === 'not_escalated')
    return `not escalated: ${typeof e.detail?.['why'] === 'string' ? e.detail['why'] : 'the page was taken already'}`;
  if (e.kind === 'page' && e.detail?.['left_to_timer'] === true)
    return `${e.action} left to PagerDuty's timer: not sent, the region's request budget had no room in time`;
  if (e.kind === 'page' && e.action === 'note_skipped')
    return `no note: ${typeof e.detail?.['why'] === 'string' ? e.detail['why'] : 'noted already'}`;
  if (e.kind === 'workflow' && e.action === 'not_started')
    return `the workflow could not be started: ${e.error ?? '?'}`;
  const incident =
    typeof e.detail?.['incident_id'] === 'string' ? ` incident ${e.detail['incident_id']}` : '';
  return `${e.action}${incident}: ${e.ok ? 'done' : `failed (${e.error ?? '?'})`}${typeof e.detail?.['attempts'] === 'number' ? `, ${e.detail['attempts']} attempt(s)` : ''}`;
}

/** `remediated recently by event E (run R, succeeded at T); not again within 1h`. */
export function remediatedText(r: {
  readonly event_id: string;
  readonly run_id: string;
  readonly started_at: string;
  readonly ended_at?: string;
  readonly outcome?: string;
  readonly window_ms: number;
}): string {
  const when =
    r.ended_at === undefined ? `running since ${r.started_at}` : `${r.outcome ?? 'ended'} at ${r.ended_at}`;
  return `remediated recently by event ${r.event_id} (${r.run_id}, ${when}); not again within ${formatDuration(r.window_ms)} of its end`;
}
