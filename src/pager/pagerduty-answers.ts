/**
 * Reading PagerDuty's answers: the incident in an update's answer, the page of a key in a list, and
 * the error for an answer that refused the call.
 */
import { PagerError, PagerErrorCodes } from './errors.js';
import type { PagerDutyAnswer } from './pagerduty-client.js';

/** What the pager needs to know of an incident. */
export interface FoundIncident {
  readonly id: string;
  readonly status: string | undefined;
  /** PagerDuty's incident documents no such field; the simulator reports one (see the pager). */
  readonly level: number | undefined;
  /** Who acknowledged it (PagerDuty's `acknowledgements`; empty unless it is acknowledged). */
  readonly acknowledgers: readonly Acknowledger[];
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
    escalation_level?: unknown;
    acknowledgements?: unknown;
  };
  if (typeof i.id !== 'string') return undefined;
  return {
    id: i.id,
    status: typeof i.status === 'string' ? i.status : undefined,
    level: typeof i.escalation_level === 'number' ? i.escalation_level : undefined,
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

/** The id of the user with exactly this email in a `GET /users?query=` answer. */
export function userIdOf(data: unknown, email: string): string | undefined {
  const list = (data as { users?: unknown } | undefined)?.users;
  if (!Array.isArray(list)) return undefined;
  const user = list.find(
    (u: unknown) =>
      typeof (u as { email?: unknown } | null)?.email === 'string' &&
      (u as { email: string }).email.toLowerCase() === email.toLowerCase(),
  ) as { id?: unknown } | undefined;
  return typeof user?.id === 'string' ? user.id : undefined;
}

/**
 * The incident a key names in a list answer. PagerDuty also returns incidents whose alerts carry the
 * key (those have no `incident_key` of their own), so a missing key counts as a match.
 */
export function pick(data: unknown, incidentKey: string): FoundIncident | undefined {
  const list = (data as { incidents?: unknown } | undefined)?.incidents;
  if (!Array.isArray(list)) return undefined;
  const matching = list.filter((raw: unknown) => {
    const key = (raw as { incident_key?: unknown } | null)?.incident_key;
    return key === undefined || key === null || key === incidentKey;
  });
  const found = matching.map(readIncident).filter((i): i is FoundIncident => i !== undefined);
  // The list is oldest first: the newest open incident is the page of this event.
  return found.findLast((i) => i.status !== 'resolved') ?? found.at(-1);
}
