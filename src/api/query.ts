/**
 * The query of `GET /v1/events` and `GET /v1/rejected`, checked the way the configuration is: every
 * problem named at once, and an unknown parameter refused rather than ignored (a typo in a filter
 * must not silently list everything).
 */
import { EventErrorCodes } from '../events/errors.js';
import { REASON_TEXT } from '../records/decision.js';
import { MAX_LIMIT } from '../audit/reader.js';
import type { EventFilters } from '../audit/reader.js';
import { EVENT_STATUSES } from '../audit/summary.js';
import type { EventStatus } from '../audit/summary.js';
import { badRequest } from './errors.js';
import type { ApiError, ApiProblem } from './errors.js';

const EVENT_PARAMS = ['service', 'host', 'status', 'reason', 'since', 'until', 'limit', 'cursor'] as const;
const REJECTED_PARAMS = ['limit', 'cursor'] as const;

/** Escalation reasons, and the codes a rejected record is listed with. */
export function knownReasons(): string[] {
  return [...Object.keys(REASON_TEXT), ...Object.values(EventErrorCodes)];
}

export function parseEventQuery(query: URLSearchParams): EventFilters {
  const problems: ApiProblem[] = [];
  const value = single(query, EVENT_PARAMS, problems);
  const filters: {
    -readonly [K in keyof EventFilters]: EventFilters[K];
  } = {};

  const service = value('service');
  if (service !== undefined) filters.service = service;
  const host = value('host');
  if (host !== undefined) filters.host = host;
  const status = value('status');
  if (status !== undefined) {
    if ((EVENT_STATUSES as readonly string[]).includes(status)) filters.status = status as EventStatus;
    else problems.push({ path: 'status', message: `must be one of ${EVENT_STATUSES.join(', ')}` });
  }
  const reason = value('reason');
  if (reason !== undefined) {
    const reasons = knownReasons();
    if (reasons.includes(reason)) filters.reason = reason;
    else problems.push({ path: 'reason', message: `must be one of ${reasons.join(', ')}` });
  }
  for (const name of ['since', 'until'] as const) {
    const text = value(name);
    if (text === undefined) continue;
    const ms = parseTime(text);
    if (ms === undefined)
      problems.push({
        path: name,
        message: 'must be epoch milliseconds or an RFC 3339 time (2026-11-22T03:00:00Z)',
      });
    else filters[name] = ms;
  }
  if (filters.since !== undefined && filters.until !== undefined && filters.since > filters.until)
    problems.push({ path: 'since', message: 'is after until' });
  const limit = parseLimit(value('limit'), problems);
  if (limit !== undefined) filters.limit = limit;
  const cursor = value('cursor');
  if (cursor !== undefined) filters.cursor = cursor;

  if (problems.length > 0) throw invalidQuery(problems);
  return filters;
}

export function parseRejectedQuery(query: URLSearchParams): { limit?: number; cursor?: string } {
  const problems: ApiProblem[] = [];
  const value = single(query, REJECTED_PARAMS, problems);
  const limit = parseLimit(value('limit'), problems);
  const cursor = value('cursor');
  if (problems.length > 0) throw invalidQuery(problems);
  return { ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) };
}

/** Epoch ms (digits) or an RFC 3339 time with a zone. */
export function parseTime(text: string): number | undefined {
  if (/^\d{1,16}$/.test(text)) return Number(text);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseLimit(text: string | undefined, problems: ApiProblem[]): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) {
    problems.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
    return undefined;
  }
  return n;
}

/**
 * A getter of each allowed parameter's one value; unknown and repeated parameters are problems. An
 * empty value is no filter (a form's empty field), not a filter on the empty string.
 */
function single(
  query: URLSearchParams,
  allowed: readonly string[],
  problems: ApiProblem[],
): (name: string) => string | undefined {
  for (const name of new Set(query.keys())) {
    if (!allowed.includes(name))
      problems.push({ path: name, message: `unknown parameter; known: ${allowed.join(', ')}` });
    else if (query.getAll(name).length > 1) problems.push({ path: name, message: 'given more than once' });
  }
  return (name) => {
    const values = query.getAll(name);
    return values.length === 1 && values[0] !== '' ? values[0] : undefined;
  };
}

function invalidQuery(problems: readonly ApiProblem[]): ApiError {
  return badRequest(
    `the query is not valid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
    problems,
  );
}
