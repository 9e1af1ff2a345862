/** Errors of the notification module. */
import { LzError } from '../common/errors.js';

export const NotifyErrorCodes = {
  /**
   * A channel could not deliver a message. `retryable` says whether another attempt may help (a
   * timeout, a 5xx, an SMTP 4xx) or not (a Slack 404, an SMTP 5xx, a page that does not exist).
   */
  DELIVERY_FAILED: 'LZ_ERR_NOTIFY_DELIVERY_FAILED',
  /** A channel string that is not `slack:#channel`, `email:address` or `pagerduty`. */
  BAD_CHANNEL: 'LZ_ERR_NOTIFY_BAD_CHANNEL',
} as const;

export class NotifyError extends LzError {
  /** How long the receiver asked us to wait (Slack's `Retry-After`), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown; retryAfterMs?: number | undefined } = {},
  ) {
    super(code, message, options);
    this.name = 'NotifyError';
    this.retryAfterMs = options.retryAfterMs;
  }
}
