/** Error codes of the audit trail (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

export const AUDIT_ERRORS = errorRegistry('audit', {
  /** A cursor that this version did not hand out (edited, truncated, or of the other listing). */
  BAD_CURSOR: {
    code: 'LZ_ERR_AUDIT_BAD_CURSOR',
    message:
      'a cursor this version did not hand out (edited, truncated, or of the other listing); the API answers it as a 400 `LZ_ERR_API_BAD_REQUEST` with the path `cursor`',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
});

export const AuditErrorCodes = AUDIT_ERRORS.codes;
