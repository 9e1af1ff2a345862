/** Errors of the notification module. */
import { LzError } from '../common/errors.js';
import { errorRegistry } from '../common/errors.js';

export const NOTIFY_ERRORS = errorRegistry('notify', {
  /**
   * A channel could not deliver a message. `retryable` says whether another attempt may help (a
   * timeout, a 5xx, an SMTP 4xx) or not (a Slack 404, an SMTP 5xx, a page that does not exist).
   */
  DELIVERY_FAILED: {
    code: 'LZ_ERR_NOTIFY_DELIVERY_FAILED',
    message:
      'a channel could not deliver a message; retried with backoff when another attempt may help, logged when it gives up',
    retryable: true,
    http: 502,
    grpc: 'UNAVAILABLE',
  },
  /** A channel string that is not `slack:#channel`, `email:address` or `pagerduty`. */
  BAD_CHANNEL: {
    code: 'LZ_ERR_NOTIFY_BAD_CHANNEL',
    message: 'a channel that is not `slack:#channel`, `email:address` or `pagerduty`',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
});

export const NotifyErrorCodes = NOTIFY_ERRORS.codes;

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
