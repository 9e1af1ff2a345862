/** What the action tests share: a context as the engine builds it, and checks of outcomes. */
import { strict as assert } from 'node:assert';
import { Ajv } from 'ajv';
import type { ActionContext, ActionDefinition } from '../../../src/actions/definition.js';
import { ActionError } from '../../../src/actions/errors.js';
import { RecordingNotifier } from '../../../src/notify/recording-notifier.js';
import { RecordingPager } from '../../../src/pager/recording-pager.js';

export function actionContext(overrides: Partial<ActionContext> = {}): ActionContext {
  return {
    signal: new AbortController().signal,
    runId: 'run-1',
    stepId: 'step-1',
    attempt: 1,
    service: 'cassandra',
    pager: new RecordingPager(),
    notifier: new RecordingNotifier(),
    execDir: undefined,
    ...overrides,
  };
}

const ajv = new Ajv({ allErrors: true });

/** Runs `action` and checks its outputs against the action's own `outputs` schema. */
export async function runChecked(
  action: ActionDefinition,
  inputs: Record<string, unknown>,
  context: ActionContext,
): Promise<Record<string, unknown>> {
  const outputs = await action.run(inputs, context);
  const validate = ajv.compile(action.outputs);
  assert.ok(validate(outputs), `outputs of ${action.name}: ${ajv.errorsText(validate.errors)}`);
  return outputs;
}

/** Asserts that `promise` rejects with an `ActionError` of this code, retryability and message. */
export async function rejectsWithActionError(
  promise: Promise<unknown>,
  expected: { code: string; retryable: boolean; message: RegExp },
): Promise<ActionError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ActionError, `expected an ActionError, got ${String(caught)}`);
  assert.equal(caught.code, expected.code, caught.message);
  assert.equal(caught.retryable, expected.retryable, caught.message);
  assert.match(caught.message, expected.message);
  return caught;
}
