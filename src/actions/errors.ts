/** Errors of the workflow actions. */
import { LzError } from '../common/errors.js';
import { errorRegistry } from '../common/errors.js';

export const ACTION_ERRORS = errorRegistry('actions', {
  /** The action failed; `retryable` says whether another attempt may help (a 503, a timeout). */
  FAILED: {
    code: 'LZ_ERR_ACTION_FAILED',
    message: 'a workflow action failed; `retryable` says whether another attempt may help',
    retryable: false,
    http: 502,
    grpc: 'ABORTED',
  },
  /** The inputs, once rendered, do not fit the action's schema. Never retried. */
  BAD_INPUT: {
    code: 'LZ_ERR_ACTION_BAD_INPUT',
    message: "a step's rendered inputs do not fit its action",
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /** `exec` of a script outside the allow-listed directory, or with no directory configured. */
  NOT_ALLOWED: {
    code: 'LZ_ERR_ACTION_NOT_ALLOWED',
    message: '`exec` of a script outside `workflows.exec_dir` (or none configured)',
    retryable: false,
    http: 403,
    grpc: 'PERMISSION_DENIED',
  },
});

export const ActionErrorCodes = ACTION_ERRORS.codes;

export class ActionError extends LzError {
  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ActionError';
  }
}
