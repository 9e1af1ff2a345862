/**
 * How an action stops when its step's signal fires (the step's timeout, the run's, or a drain):
 * with an `ActionError` that says so and is never retried, since the engine aborted it on purpose.
 */
import { ActionError, ActionErrorCodes } from './errors.js';

export function abortedError(action: string, signal: AbortSignal): ActionError {
  const reason: unknown = signal.reason;
  const why =
    reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new ActionError(ActionErrorCodes.FAILED, `${action} was aborted${why}`, {
    retryable: false,
    cause: reason,
  });
}

export function throwIfAborted(action: string, signal: AbortSignal): void {
  if (signal.aborted) throw abortedError(action, signal);
}

/**
 * Settles with `work`, or rejects as aborted as soon as `signal` fires, whichever comes first. For
 * calls that cannot be cancelled themselves (a health probe, a port that ignores its signal): the
 * step stops at once and the call finishes, unobserved, in the background.
 */
export function raceAbort<T>(action: string, signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortedError(action, signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(action, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Resolves after `ms`; rejects as aborted the moment `signal` fires, without leaving a timer behind. */
export function sleep(action: string, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortedError(action, signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(action, signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
