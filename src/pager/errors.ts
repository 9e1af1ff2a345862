/** Errors of the paging module. */
import { LzError } from '../common/errors.js';
import { errorRegistry } from '../common/errors.js';

export const PAGER_ERRORS = errorRegistry('pager', {
  /**
   * PagerDuty could not be reached, or kept failing (5xx, 429, timeouts), until the call's budget was
   * spent. Never retryable: the budget ends before PagerDuty's own escalation timer, so another try
   * would race the humans' page. An acknowledgement that timed out may still have landed: the caller
   * escalates (with a fresh budget) rather than assume it did not.
   */
  UNAVAILABLE: {
    code: 'LZ_ERR_PAGER_UNAVAILABLE',
    message:
      "PagerDuty could not be reached, or kept failing (5xx, 429, timeouts), until the call's budget was spent; an acknowledgement that fails this way makes the event `dependency_down` and nothing runs",
    retryable: false,
    http: 503,
    grpc: 'UNAVAILABLE',
  },
  /** No incident has the event's incident key (after waiting `incidentGraceMs` for the page to appear). */
  NO_INCIDENT: {
    code: 'LZ_ERR_PAGER_NO_INCIDENT',
    message:
      "no incident has the event's incident key, after `pagerduty.incident_grace` (10 s) of looking: nothing is acknowledged, so nothing runs",
    retryable: false,
    http: 404,
    grpc: 'NOT_FOUND',
  },
  /**
   * The incident to acknowledge is no longer the controller's: it is assigned to someone else, or its
   * log shows it was escalated (by PagerDuty's timer or a person) or reassigned since it was
   * triggered. The humans own it, and the controller must not act.
   */
  ALREADY_ESCALATED: {
    code: 'LZ_ERR_PAGER_ALREADY_ESCALATED',
    message:
      "the incident is not the controller's any more: not assigned to its user, or its log shows an escalation (PagerDuty's timer or a person) or a reassignment since the trigger; the humans own it, and the controller does not act",
    retryable: false,
    http: 409,
    grpc: 'FAILED_PRECONDITION',
  },
  /**
   * The incident to acknowledge is already acknowledged by someone other than the controller's own
   * PagerDuty user: a person is working on it, and a remediation now would be a second actor on the
   * same host.
   */
  TAKEN: {
    code: 'LZ_ERR_PAGER_TAKEN',
    message:
      "the incident is already acknowledged by someone other than the controller's PagerDuty user: a person is working on it, and the controller does not act",
    retryable: false,
    http: 409,
    grpc: 'FAILED_PRECONDITION',
  },
  /**
   * The event's page is resolved (no incident of its key is open): acknowledging it would reopen it,
   * so the controller neither acts nor touches it.
   */
  RESOLVED: {
    code: 'LZ_ERR_PAGER_RESOLVED',
    message: "the event's page is resolved: the controller neither acts nor touches it (`page_resolved`)",
    retryable: false,
    http: 409,
    grpc: 'FAILED_PRECONDITION',
  },
  /**
   * The region's PagerDuty request budget had no room for the call before its deadline (or could
   * not be read): nothing was sent, and PagerDuty's own timer escalates the page. Not retryable.
   */
  OVER_BUDGET: {
    code: 'LZ_ERR_PAGER_OVER_BUDGET',
    message:
      "the region's PagerDuty request budget had no room for the call before its page's race ended (or could not be read): nothing was sent, and PagerDuty's own timer escalates the page (`page.left_to_timer`)",
    retryable: false,
    http: 429,
    grpc: 'RESOURCE_EXHAUSTED',
  },
  /** PagerDuty refused the token (401) or its user's rights (403): a configuration error. */
  UNAUTHORIZED: {
    code: 'LZ_ERR_PAGER_UNAUTHORIZED',
    message: "PagerDuty refused the token (401) or the user's rights (403): a configuration error",
    retryable: false,
    http: 502,
    grpc: 'PERMISSION_DENIED',
  },
  /** PagerDuty answered another 4xx (a bad `From`, an update of a resolved incident, a level out of range). */
  REJECTED: {
    code: 'LZ_ERR_PAGER_REJECTED',
    message:
      'PagerDuty refused a call (a bad `From`, an update of a resolved incident, a level out of range)',
    retryable: false,
    http: 502,
    grpc: 'FAILED_PRECONDITION',
  },
});

export const PagerErrorCodes = PAGER_ERRORS.codes;

export class PagerError extends LzError {
  /** The HTTP status of PagerDuty's last answer, when there was one. */
  readonly status: number | undefined;
  /** HTTP attempts made before giving up (0 when the budget was spent before the first). */
  readonly attempts: number;

  constructor(
    code: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown; status?: number | undefined; attempts?: number } = {},
  ) {
    super(code, message, options);
    this.name = 'PagerError';
    this.status = options.status;
    this.attempts = options.attempts ?? 0;
  }
}
