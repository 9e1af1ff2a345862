/**
 * Reading PagerDuty's answers: the incident in an update's answer, the page of a key in a list, and
 * the error for an answer that refused the call.
 */
import { PagerError, PagerErrorCodes } from './errors.js';
import type { PagerDutyAnswer } from './pagerduty-client.js';

/**
 * What the pager needs to know of an incident, from the fields PagerDuty documents (its `Incident`
 * has no escalation level: who holds it is `assignments`, what happened to it is its log).
 */
export interface FoundIncident {
  readonly id: string;
  readonly status: string | undefined;
  /** The ids of who holds it now (`assignments[].assignee.id`; empty once resolved). */
  readonly assignees: readonly string[];
  /** Who acknowledged it (PagerDuty's `acknowledgements`; empty unless it is acknowledged). */
  readonly acknowledgers: readonly Acknowledger[];
}

/** A log entry as the pager reads it: its type, time and who or what it names. */
export interface LogEntry {
  readonly type: string;
  readonly at: number;
  readonly agent: string | undefined;
  readonly assignees: readonly string[];
}

export interface Acknowledger {
  /** The user's (or service's) id, when PagerDuty gave one. */
  readonly id: string | undefined;
  /** Their name as PagerDuty shows it. */
  readonly summary: string | undefined;
}

/** The error for an answer that settled the call the wrong way (a 4xx). */
export function failure(answer: PagerDutyAnswer, what: string): PagerError {
  const error = (answer.data as { error?: { message?: unknown; errors?: unknown } } | undefined)?.error;
  const details = [
    typeof error?.message === 'string' ? error.message : undefined,
    ...(Array.isArray(error?.errors) ? error.errors.filter((e): e is string => typeof e === 'string') : []),
  ].filter((d) => d !== undefined);
  const message = `PagerDuty refused to ${what}: HTTP ${answer.status}${details.length > 0 ? ` (${details.join('; ')})` : ''}`;
  const code =
    answer.status === 401 || answer.status === 403
      ? PagerErrorCodes.UNAUTHORIZED
      : answer.status === 404
        ? PagerErrorCodes.NO_INCIDENT
        : PagerErrorCodes.REJECTED;
  return new PagerError(code, message, { retryable: false, status: answer.status });
}

export function incidentOf(data: unknown): FoundIncident | undefined {
  return readIncident((data as { incident?: unknown } | undefined)?.incident);
}

function readIncident(value: unknown): FoundIncident | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const i = value as {
    id?: unknown;
    status?: unknown;
    assignments?: unknown;
    acknowledgements?: unknown;
  };
  if (typeof i.id !== 'string') return undefined;
  return {
    id: i.id,
    status: typeof i.status === 'string' ? i.status : undefined,
    assignees: Array.isArray(i.assignments)
      ? i.assignments.flatMap((a: unknown) => idOf((a as { assignee?: unknown } | null)?.assignee))
      : [],
    acknowledgers: Array.isArray(i.acknowledgements) ? i.acknowledgements.map(acknowledgerOf) : [],
  };
}

function acknowledgerOf(raw: unknown): Acknowledger {
  const who = (raw as { acknowledger?: { id?: unknown; summary?: unknown } } | null)?.acknowledger;
  return {
    id: typeof who?.id === 'string' ? who.id : undefined,
    summary: typeof who?.summary === 'string' ? who.summary : undefined,
  };
}

/** The id of the user in a `GET /users/me` answer. */
export function meOf(data: unknown): string | undefined {
  const id = (data as { user?: { id?: unknown } } | undefined)?.user?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The incident a key names in a list answer (asked for newest first). PagerDuty also returns
 * incidents whose alerts carry the key (those have no `incident_key` of their own), so a missing key
 * counts as a match.
 */
export function pick(data: unknown, incidentKey: string): FoundIncident | undefined {
  const list = (data as { incidents?: unknown } | undefined)?.incidents;
  if (!Array.isArray(list)) return undefined;
  const matching = list.filter((raw: unknown) => {
    const key = (raw as { incident_key?: unknown } | null)?.incident_key;
    return key === undefined || key === null || key === incidentKey;
  });
  return matching.map(readIncident).find((i): i is FoundIncident => i !== undefined);
}

/** The entries of a `GET /incidents/{id}/log_entries` answer, and whether there are more. */
export function logEntriesOf(data: unknown): { entries: LogEntry[]; more: boolean } {
  const d = data as { log_entries?: unknown; more?: unknown } | undefined;
  const entries = (Array.isArray(d?.log_entries) ? d.log_entries : []).flatMap((raw: unknown): LogEntry[] => {
    const e = raw as { type?: unknown; created_at?: unknown; agent?: unknown; assignees?: unknown } | null;
    if (typeof e?.type !== 'string') return [];
    const at = typeof e.created_at === 'string' ? Date.parse(e.created_at) : NaN;
    return [
      {
        type: e.type,
        at,
        agent: idOf(e.agent)[0],
        assignees: Array.isArray(e.assignees) ? e.assignees.flatMap(idOf) : [],
      },
    ];
  });
  return { entries, more: d?.more === true };
}

function idOf(ref: unknown): string[] {
  const id = (ref as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' ? [id] : [];
}
