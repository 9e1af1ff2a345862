/**
 * The words people read at the critical steps of a remediation: acknowledged, remediation started,
 * resolved, escalated, and "would have" (notify_only). Each text's first line is the headline (an
 * email's subject); the lines after it say why, on what evidence, and whether anyone has to act.
 *
 * The inputs are plain shapes rather than the controller's records, so that this module depends on
 * nobody: the controller passes its decision record's fields (they fit these shapes as they are).
 */
import { formatDuration } from '../common/duration.js';

/** The event a message is about. */
export interface EventSummary {
  readonly service: string;
  readonly host?: string;
  /** `host_down`, ... */
  readonly eventType: string;
  readonly eventId: string;
  readonly incidentKey?: string;
}

/** One precondition check as a node measured it (the cluster's `CheckEvidence`). */
export interface CheckResult {
  readonly name: string;
  readonly pass: boolean;
  readonly measured: string;
  readonly threshold: string;
  readonly detail: string;
}

/** One node's vote (the cluster's `Vote`). */
export interface VoteSummary {
  readonly node: string;
  readonly zone: string;
  readonly pass: boolean;
  readonly checks: readonly CheckResult[];
}

/** What a decision rested on. */
export interface Evidence {
  readonly votes?: readonly VoteSummary[];
  /** Nodes that could not vote, and why. */
  readonly failures?: readonly { readonly node: string; readonly error: string }[];
  readonly quorum?: number;
  /** What could not be reached (`dependency_down`), or the failed workflow step's error. */
  readonly error?: string;
  /** The workflow step that failed (`workflow_failed`). */
  readonly failedStep?: string;
  readonly workflow?: string;
}

/**
 * Each machine-readable escalation reason in words for the person who is paged. The controller's
 * decision reasons, plus the two that come after a decision (`workflow_failed`, `pager_unavailable`).
 */
export const REASON_WORDS: Readonly<Record<string, string>> = {
  stale: 'the event was too old to act on (older than max_event_age)',
  no_rule: 'no rule of the service matches this event, so there is no safe automatic remedy',
  breaker_open:
    'too many services in the region are failing at once (circuit breaker open), so nothing is automated',
  rate_limited:
    'this service has failed too often recently (rate limit reached), so automatic actions are suspended',
  lock_held: 'another remediation is already working on this resource',
  checks_failed: 'the safety checks before acting failed: acting now could make things worse',
  no_quorum:
    'not enough controller nodes could vote (peers unreachable or failing) to agree it is safe to act',
  timeout: 'the controller nodes did not agree in time that it is safe to act',
  dependency_down:
    'something the controller needs to act safely (Redis, the inventory, a peer, PagerDuty) could not be reached',
  workflow_failed: 'the automatic remediation was tried and failed',
  pager_unavailable: 'PagerDuty could not be reached in time, so the controller stood back',
};

export function reasonInWords(reason: string, override?: string): string {
  return override ?? REASON_WORDS[reason] ?? reason.replaceAll('_', ' ');
}

/** The page was acknowledged: the checks passed and the lock is held; the workflow comes next. */
export function acknowledgedMessage(
  event: EventSummary,
  details: { workflow: string; evidence?: Evidence },
): string {
  return [
    `Lazarus acknowledged the page for ${subject(event)}`,
    `${votesLine(details.evidence) ?? 'The safety checks passed.'} It is starting the remediation "${details.workflow}".`,
    'Nobody needs to act now; you will hear when it is done, or be paged if it fails.',
    footer(event),
  ].join('\n');
}

/** The workflow has started; `steps` are its step ids (or descriptions) in order. */
export function remediationStartedMessage(
  event: EventSummary,
  details: { workflow: string; steps: readonly string[]; runId?: string },
): string {
  return [
    `Lazarus started remediating ${subject(event)} with "${details.workflow}"`,
    'Steps:',
    ...numbered(details.steps),
    ...(details.runId === undefined ? [] : [`Run ${details.runId}.`]),
    footer(event),
  ].join('\n');
}

/** The workflow succeeded and the page was resolved. */
export function resolvedMessage(
  event: EventSummary,
  details: { workflow: string; durationMs?: number; summary?: string },
): string {
  const took =
    details.durationMs === undefined ? '' : ` in ${formatDuration(Math.round(details.durationMs))}`;
  return [
    `Resolved: Lazarus remediated ${subject(event)}${took}`,
    `The remediation "${details.workflow}" finished successfully and the page was resolved.${details.summary === undefined ? '' : ` ${details.summary}`}`,
    'Nobody needs to act.',
    footer(event),
  ].join('\n');
}

/**
 * The page went to the humans. Says why in words, then the evidence: the checks that failed (on
 * which node, measured against what), the votes, nodes that could not vote, the failed step.
 */
export function escalatedMessage(
  event: EventSummary,
  details: { reason: string; reasonText?: string; evidence?: Evidence },
): string {
  const evidence = details.evidence ?? {};
  const lines = [
    `Escalated to on-call: Lazarus did not fix ${subject(event)}`,
    `Why: ${reasonInWords(details.reason, details.reasonText)} (${details.reason}).`,
  ];
  if (evidence.failedStep !== undefined) {
    lines.push(
      `The remediation${evidence.workflow === undefined ? '' : ` "${evidence.workflow}"`} failed at step "${evidence.failedStep}"${evidence.error === undefined ? '' : `: ${evidence.error}`}.`,
      'The host may be part-way through the remediation: check it before acting.',
    );
  } else if (evidence.error !== undefined) {
    lines.push(`Error: ${evidence.error}.`);
  }
  lines.push(...checkLines(evidence));
  lines.push('Someone needs to look at this now.', footer(event));
  return lines.join('\n');
}

/**
 * `notify_only`: everything up to the decision ran; this says what would have been done and why,
 * so that a team can judge the automation before it is allowed to act.
 */
export function wouldHaveMessage(
  event: EventSummary,
  details: {
    workflow: string;
    steps: readonly string[];
    evidence?: Evidence;
    /** When the decision was to escalate: what would have been escalated, and why. */
    reason?: string;
    reasonText?: string;
  },
): string {
  if (details.reason !== undefined) {
    return [
      `[notify_only] Lazarus would have escalated ${subject(event)} to on-call`,
      `Why: ${reasonInWords(details.reason, details.reasonText)} (${details.reason}).`,
      ...checkLines(details.evidence ?? {}),
      'Nothing was done: the service is in notify_only mode, and the page follows its usual escalation.',
      footer(event),
    ].join('\n');
  }
  return [
    `[notify_only] Lazarus would have remediated ${subject(event)}`,
    `${votesLine(details.evidence) ?? 'The safety checks passed.'} In enforce mode it would have acknowledged the page and run "${details.workflow}":`,
    ...numbered(details.steps),
    'Nothing was done: the service is in notify_only mode, and the page follows its usual escalation.',
    footer(event),
  ].join('\n');
}

/**
 * The "assisted diagnosis" note for the incident: every node's vote with every check it measured, so
 * that the person paged starts from the facts.
 */
export function evidenceNote(
  event: EventSummary,
  details: { decision: string; reason?: string; evidence: Evidence },
): string {
  const { evidence } = details;
  const lines = [
    `Assisted diagnosis by Lazarus for ${subject(event)}: decision ${details.decision}${details.reason === undefined ? '' : ` (${details.reason}: ${reasonInWords(details.reason)})`}.`,
  ];
  const summary = votesLine(evidence);
  if (summary !== undefined) lines.push(summary);
  for (const vote of evidence.votes ?? []) {
    lines.push(`${vote.node} (${vote.zone}) voted ${vote.pass ? 'pass' : 'fail'}:`);
    for (const check of vote.checks) lines.push(`  ${check.pass ? 'ok  ' : 'FAIL'} ${describeCheck(check)}`);
  }
  for (const failure of evidence.failures ?? [])
    lines.push(`${failure.node} could not vote: ${failure.error}`);
  if (evidence.error !== undefined) lines.push(`Error: ${evidence.error}`);
  lines.push(footer(event));
  return lines.join('\n');
}

function subject(event: EventSummary): string {
  const where = event.host === undefined ? event.service : `${event.host} (${event.service})`;
  return `${where}: ${event.eventType.replaceAll('_', ' ')}`;
}

function footer(event: EventSummary): string {
  return `Event ${event.eventId}${event.incidentKey === undefined ? '' : ` · incident key ${event.incidentKey}`}`;
}

function numbered(steps: readonly string[]): string[] {
  return steps.length === 0 ? ['  (no steps)'] : steps.map((s, i) => `  ${i + 1}. ${s}`);
}

/** "2 of 3 nodes found it safe to act (2 needed)." */
function votesLine(evidence: Evidence | undefined): string | undefined {
  const votes = evidence?.votes;
  if (votes === undefined || votes.length === 0) return undefined;
  const passing = votes.filter((v) => v.pass).length;
  const total = votes.length + (evidence?.failures?.length ?? 0);
  const needed = evidence?.quorum === undefined ? '' : ` (${evidence.quorum} needed)`;
  return `${passing} of ${total} controller nodes found it safe to act${needed}.`;
}

/** The failed checks (each once, with the nodes that saw it fail), the vote count, the missing voters. */
function checkLines(evidence: Evidence): string[] {
  const failed = new Map<string, { check: CheckResult; nodes: string[] }>();
  for (const vote of evidence.votes ?? []) {
    for (const check of vote.checks) {
      if (check.pass) continue;
      const key = `${check.name}\u0000${check.measured}\u0000${check.threshold}\u0000${check.detail}`;
      const entry = failed.get(key) ?? { check, nodes: [] };
      entry.nodes.push(`${vote.node} (${vote.zone})`);
      failed.set(key, entry);
    }
  }
  const lines: string[] = [];
  if (failed.size > 0) {
    lines.push('Failed checks:');
    for (const { check, nodes } of failed.values())
      lines.push(`  - ${describeCheck(check)} [on ${nodes.join(', ')}]`);
  }
  const summary = votesLine(evidence);
  if (summary !== undefined) lines.push(summary);
  for (const failure of evidence.failures ?? [])
    lines.push(`${failure.node} could not vote: ${failure.error}.`);
  return lines;
}

function describeCheck(check: CheckResult): string {
  const numbers = `measured ${check.measured}, needs ${check.threshold}`;
  return `${check.name}: ${numbers}${check.detail === '' ? '' : ` (${check.detail})`}`;
}
