import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ActionErrorCodes } from '../../../src/actions/errors.js';
import { wait } from '../../../src/actions/wait.js';
import { actionContext, rejectsWithActionError, runChecked } from './context.js';

describe('wait', () => {
  test('waits the duration and has no outputs', async () => {
    const started = performance.now();
    const out = await runChecked(wait, { duration: '60ms' }, actionContext());
    assert.deepEqual(out, {});
    assert.ok(performance.now() - started >= 55);
  });

  test('the step signal ends a long wait at once', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const running = wait.run({ duration: '1h' }, actionContext({ signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('run timeout')), 20);
    await rejectsWithActionError(running, {
      code: ActionErrorCodes.FAILED,
      retryable: false,
      message: /wait was aborted: run timeout/,
    });
    assert.ok(performance.now() - started < 1_000);
  });

  test('an already aborted signal fails without waiting', async () => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWithActionError(wait.run({ duration: '1h' }, actionContext({ signal: controller.signal })), {
      code: ActionErrorCodes.FAILED,
      retryable: false,
      message: /aborted/,
    });
  });

  test('a zero wait is allowed; a bad duration is bad input', async () => {
    assert.deepEqual(await wait.run({ duration: '0s' }, actionContext()), {});
    await rejectsWithActionError(wait.run({ duration: '5 minutes' }, actionContext()), {
      code: ActionErrorCodes.BAD_INPUT,
      retryable: false,
      message: /duration "5 minutes"/,
    });
  });
});
