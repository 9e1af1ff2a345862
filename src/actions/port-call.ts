/**
 * A call through a port (pager, notifier) on behalf of an action: stopped by the step's signal even
 * when the port is slow to notice it, and its failure turned into an `ActionError`.
 */
import { LzError } from '../common/errors.js';
import { raceAbort, throwIfAborted } from './abort.js';
import { ActionError, ActionErrorCodes } from './errors.js';

export async function callPort<T>(action: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  throwIfAborted(action, signal);
  try {
    return await raceAbort(action, signal, call());
  } catch (error) {
    if (error instanceof ActionError) throw error;
    throwIfAborted(action, signal);
    const message = error instanceof Error ? error.message : String(error);
    // A port that knows better says so with its own `retryable`; anything else is an adapter
    // talking to a remote API (PagerDuty, chat), where another attempt usually helps.
    const retryable = error instanceof LzError ? error.retryable : true;
    throw new ActionError(ActionErrorCodes.FAILED, `${action} failed: ${message}`, {
      retryable,
      cause: error,
    });
  }
}
