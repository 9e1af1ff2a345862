/**
 * The one line between "a dependency could not answer" and "this record cannot be processed".
 *
 * The first is retried and fails safe: the event escalates `dependency_down`, its decision is kept
 * until Redis answers, the batch is read again. The second must never be retried: the same record
 * fails the same way every time, and retrying it stops its shard for good. It is set aside as a
 * rejected record instead, and the shard moves on.
 *
 * So every call to Redis goes through `viaRedis`, which turns what Redis (or the way to it) did into
 * an `LzError`: `LZ_ERR_DEPENDENCY_DOWN` (retryable) when Redis was unreachable, timed out, or
 * refused for a reason of its own state (loading, read-only replica, out of memory, busy, failover,
 * credentials); `LZ_ERR_REDIS_REFUSED` (not retryable) when it refused what it was asked, the same
 * way it would again (a Lua script's runtime error on these arguments, a key of the wrong type).
 * Work done around the call (JSON in and out) stays outside it, so its errors are the record's.
 */
import { COMMON_ERRORS, LzError } from './errors.js';

/** The two ways a call to a dependency fails (the common registry's, see errors.ts). */
export const DependencyErrorCodes = {
  DEPENDENCY_DOWN: COMMON_ERRORS.codes.DEPENDENCY_DOWN,
  REDIS_REFUSED: COMMON_ERRORS.codes.REDIS_REFUSED,
} as const;

/**
 * Replies that say what was asked cannot be done, whatever the time: a script that raised an error
 * (`ERR user_script:…`, `ERR Error running script …`) or a command on a key of another type. Any
 * other reply (`LOADING`, `BUSY`, `READONLY`, `OOM`, `MASTERDOWN`, `NOAUTH`, `CLUSTERDOWN`, …) is
 * about Redis' state, and passes.
 */
const REFUSAL = /^(WRONGTYPE\b|CROSSSLOT\b|ERR\b.*\b(user_script|script)\b)/i;

/**
 * Redis' own state, wherever it appears in the reply: Redis 6 and older wrap an error raised inside a
 * script as `ERR Error running script … -READONLY …`, which is a failover, not a refusal.
 */
const STATE =
  /\b(LOADING|BUSY|READONLY|OOM|MASTERDOWN|NOREPLICAS|TRYAGAIN|CLUSTERDOWN|MOVED|ASK|NOAUTH|NOPERM|WRONGPASS)\b/;

/**
 * Runs one Redis call and turns any failure of it into an `LzError` (see above). Errors that are
 * already `LzError`s (a bad reply, a bad argument) pass unchanged.
 */
export async function viaRedis<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw redisFailure(operation, error);
  }
}

export function redisFailure(operation: string, error: unknown): LzError {
  if (error instanceof LzError) return error;
  const why = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === 'ReplyError' && REFUSAL.test(why) && !STATE.test(why))
    return new LzError(DependencyErrorCodes.REDIS_REFUSED, `${operation}: Redis refused it (${why})`, {
      cause: error,
    });
  return new LzError(
    DependencyErrorCodes.DEPENDENCY_DOWN,
    `${operation} failed: Redis did not answer (${why}); treat its outcome as unknown`,
    { retryable: true, cause: error },
  );
}

/**
 * Whether `error` is a dependency's failure that trying again may cure: only a retryable `LzError`.
 * Anything else (a `TypeError`, a stack overflow, a refused script) is the record's own problem.
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof LzError && error.retryable;
}
