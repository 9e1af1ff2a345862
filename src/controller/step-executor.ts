/**
 * Runs a workflow step's action: looks the action up in the registry, checks the rendered inputs
 * against its schema (a template that rendered to the wrong type is caught here, before any call),
 * and runs it with this node's ports.
 */
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { ActionDefinition, NotifierPort, PagerPort } from '../actions/definition.js';
import { ActionError, ActionErrorCodes } from '../actions/errors.js';
import type { RunState, StepExecutor } from '../workflow/types.js';

export interface ExecutorPorts {
  readonly pager: PagerPort;
  readonly notifier: NotifierPort;
  /** The notifier of one run (its messages carry the event's incident key). @defaultValue `notifier` */
  readonly notifierFor?: (run: RunState) => NotifierPort;
  readonly execDir: string | undefined;
  readonly sourceAddress?: string;
}

export function stepExecutor(
  actions: ReadonlyMap<string, ActionDefinition>,
  ports: ExecutorPorts,
): StepExecutor {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = new Map<string, ValidateFunction>();
  return async (step, inputs, attempt, signal, run) => {
    const action = actions.get(step.action);
    if (action === undefined)
      throw new ActionError(ActionErrorCodes.BAD_INPUT, `no action named ${step.action}`);
    let validate = validators.get(action.name);
    if (validate === undefined) validators.set(action.name, (validate = ajv.compile(action.inputs)));
    if (!validate(inputs)) {
      const problems = (validate.errors ?? [])
        .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)
        .join('; ');
      throw new ActionError(
        ActionErrorCodes.BAD_INPUT,
        `step ${step.id}: inputs do not fit ${action.name}: ${problems}`,
      );
    }
    return action.run(inputs, {
      signal,
      runId: run.id,
      stepId: step.id,
      attempt,
      service: run.event.service,
      pager: ports.pager,
      notifier: ports.notifierFor?.(run) ?? ports.notifier,
      execDir: ports.execDir,
      ...(ports.sourceAddress === undefined ? {} : { sourceAddress: ports.sourceAddress }),
      ...(run.lock === undefined ? {} : { fence: { resource: run.lock.resource, token: run.lock.token } }),
    });
  };
}
