/** Errors of the paging module. */
import { LzError } from '../common/errors.js';

export const PagerErrorCodes = {
  /**
   * PagerDuty could not be reached, or kept failing (5xx, 429, timeouts), until the call's budget was
   * spent. Never retryable: the budget ends before PagerDuty's own escalation timer, so another try
   * would race the humans' page. An acknowledgement that timed out may still have landed: the caller
   * escalates (with a fresh budget) rather than assume it did not.
   */
  UNAVAILABLE: 'LZ_ERR_PAGER_UNAVAILABLE',
  /** No incident has the event's incident key (after waiting `incidentGraceMs` for the page to appear). */
  NO_INCIDENT: 'LZ_ERR_PAGER_NO_INCIDENT',
  /**
   * The incident to acknowledge is no longer the controller's: it is assigned to someone else, or its
   * log shows it was escalated (by PagerDuty's timer or a person) or reassigned since it was
   * triggered. The humans own it, and the controller must not act.
   */
  ALREADY_ESCALATED: 'LZ_ERR_PAGER_ALREADY_ESCALATED',
  /**
   * The incident to acknowledge is already acknowledged by someone other than the controller's own
   * PagerDuty user: a person is working on it, and a remediation now would be a second actor on the
   * same host.
   */
  TAKEN: 'LZ_ERR_PAGER_TAKEN',
  /**
   * The event's page is resolved (no incident of its key is open): acknowledging it would reopen it,
   * so the controller neither acts nor touches it.
   */
  RESOLVED: 'LZ_ERR_PAGER_RESOLVED',
  /**
   * The region's PagerDuty request budget had no room for the call before its deadline (or could
   * not be read): nothing was sent, and PagerDuty's own timer escalates the page. Not retryable.
   */
  OVER_BUDGET: 'LZ_ERR_PAGER_OVER_BUDGET',
  /** PagerDuty refused the token (401) or its user's rights (403): a configuration error. */
  UNAUTHORIZED: 'LZ_ERR_PAGER_UNAUTHORIZED',
  /** PagerDuty answered another 4xx (a bad `From`, an update of a resolved incident, a level out of range). */
  REJECTED: 'LZ_ERR_PAGER_REJECTED',
} as const;

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
