/** Error codes of the command line (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

/** Codes of the command line. */
export const CLI_ERRORS = errorRegistry('cli', {
  USAGE: {
    code: 'LZ_ERR_USAGE',
    message: 'the command line is wrong',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
});

export const CliErrorCodes = CLI_ERRORS.codes;
