/** Errors of the workflow actions. */
import { LzError } from '../common/errors.js';

export const ActionErrorCodes = {
  /** The action failed; `retryable` says whether another attempt may help (a 503, a timeout). */
  FAILED: 'LZ_ERR_ACTION_FAILED',
  /** The inputs, once rendered, do not fit the action's schema. Never retried. */
  BAD_INPUT: 'LZ_ERR_ACTION_BAD_INPUT',
  /** `exec` of a script outside the allow-listed directory, or with no directory configured. */
  NOT_ALLOWED: 'LZ_ERR_ACTION_NOT_ALLOWED',
} as const;

export class ActionError extends LzError {
  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ActionError';
  }
}
