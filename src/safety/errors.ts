/**
 * Error codes of the safety gates, and the two ways a gate call fails: Redis could not answer
 * (`LZ_ERR_DEPENDENCY_DOWN`), or a script answered something it never returns
 * (`LZ_ERR_SCRIPT_REPLY`, a bug or two releases sharing a script name).
 *
 * The gates themselves answer "no" with a verdict (lock held, over the rate limit, breaker open),
 * never an error: the decision record's reason says which.
 */
import { DependencyErrorCodes } from '../common/dependency.js';
import { errorRegistry, LzError } from '../common/errors.js';
import { SCRIPT_REPLY, scriptReplyError } from '../common/lua.js';

export const SAFETY_ERRORS = errorRegistry('safety', {
  /** A gate was called with an argument it cannot use (a programming error, not a Redis one). */
  INVALID_ARGUMENT: {
    code: 'LZ_ERR_SAFETY_INVALID_ARGUMENT',
    message: 'a gate was called with a bad argument (a bug), e.g. a host lock without a host',
    retryable: false,
    http: 500,
    grpc: 'INTERNAL',
  },
});

export const SafetyErrorCodes = {
  /**
   * Redis did not answer (unreachable, timed out, refused the command). The outcome of a write is
   * unknown: it may have been carried out.
   */
  DEPENDENCY_DOWN: DependencyErrorCodes.DEPENDENCY_DOWN,
  /** A Lua script returned a reply it is not written to return (common/lua.ts's code). */
  SCRIPT_REPLY,
  INVALID_ARGUMENT: SAFETY_ERRORS.codes.INVALID_ARGUMENT,
} as const;

/** A value read from Redis that none of the documented shapes match (see common/lua.ts). */
export const scriptError = scriptReplyError;

export function invalidArgument(message: string): LzError {
  return new LzError(SafetyErrorCodes.INVALID_ARGUMENT, message);
}

/** Every Redis call of a gate goes through the one classifier of dependency failures. */
export { viaRedis } from '../common/dependency.js';
