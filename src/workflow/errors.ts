/** Error codes of the workflow runs (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

export const WORKFLOW_ERRORS = errorRegistry('workflow', {
  /** A write by a node whose lease on the run is gone: another node runs it now (or will). */
  LEASE_LOST: {
    code: 'LZ_ERR_RUN_LEASE_LOST',
    message:
      "a node that lost a workflow run's lease tried to write its state; refused, and the run stops on that node (another node runs it)",
    retryable: false,
    http: 409,
    grpc: 'ABORTED',
  },
});

export const RunStoreErrorCodes = WORKFLOW_ERRORS.codes;
