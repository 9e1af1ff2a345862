/**
 * Duration inputs (`timeout: 30s`). The schemas say only `string` because a template such as
 * `{{ params.workflow_timeout }}` is rendered at run time, so a bad value is caught here, per step.
 */
import { parseDuration } from '../common/duration.js';
import { ActionError, ActionErrorCodes } from './errors.js';

/**
 * Milliseconds of `inputs[name]`, or `defaultMs` when it is absent. A zero is refused unless
 * `allowZero`: a zero timeout or poll interval would mean "no timeout" to node:http or a busy loop.
 */
export function durationInput(
  action: string,
  inputs: Readonly<Record<string, unknown>>,
  name: string,
  defaultMs: number,
  { allowZero = false }: { allowZero?: boolean } = {},
): number {
  const value = inputs[name];
  if (value === undefined) return defaultMs;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || (ms === 0 && !allowZero)) {
    throw new ActionError(
      ActionErrorCodes.BAD_INPUT,
      `${action}: ${name} ${JSON.stringify(value)} is not a ${allowZero ? '' : 'positive '}duration such as '30s' or '1h30m'`,
      { retryable: false },
    );
  }
  return ms;
}
