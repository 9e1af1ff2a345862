/** Error codes of the configuration (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

/** Codes of the configuration module. */
export const CONFIG_ERRORS = errorRegistry('config', {
  /** The configuration has one or more problems; `issues` lists every one. */
  INVALID: {
    code: 'LZ_ERR_CONFIG_INVALID',
    message: 'the configuration has problems; each is listed with file:line:col',
    retryable: false,
    http: 500,
    grpc: 'FAILED_PRECONDITION',
  },
  /** A configuration file or directory could not be read. */
  UNREADABLE: {
    code: 'LZ_ERR_CONFIG_UNREADABLE',
    message: 'a configuration file or directory could not be read',
    retryable: false,
    http: 500,
    grpc: 'FAILED_PRECONDITION',
  },
});

export const ConfigErrorCodes = CONFIG_ERRORS.codes;
