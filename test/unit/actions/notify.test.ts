import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ActionErrorCodes } from '../../../src/actions/errors.js';
import { notify } from '../../../src/actions/notify.js';
import { RecordingNotifier } from '../../../src/notify/recording-notifier.js';
import { actionContext, rejectsWithActionError, runChecked } from './context.js';

describe('notify through the recording notifier', () => {
  test("to channels: one per channel, with the event's service", async () => {
    const notifier = new RecordingNotifier(() => 42);
    const out = await runChecked(
      notify,
      { message: 'replacing i-1', channels: ['#cassandra', '#oncall'] },
      actionContext({ notifier, service: 'cassandra' }),
    );
    assert.deepEqual(out, { sent: 2 });
    assert.deepEqual(notifier.messages(), [
      { text: 'replacing i-1', service: 'cassandra', channels: ['#cassandra', '#oncall'], at: 42 },
    ]);
  });

  test("to a group: one; to neither: the service's own channel, one", async () => {
    const notifier = new RecordingNotifier();
    const context = actionContext({ notifier, service: 'search' });
    assert.deepEqual(await notify.run({ message: 'm1', group: 'dba' }, context), { sent: 1 });
    assert.deepEqual(await notify.run({ message: 'm2' }, context), { sent: 1 });
    const [toGroup, toService] = notifier.messages();
    assert.equal(toGroup?.group, 'dba');
    assert.equal(toGroup?.channels, undefined);
    assert.equal(toService?.service, 'search');
    assert.equal('group' in (toService ?? {}), false, 'no group key when none was given');
  });

  test('messages() is a copy, and later changes to the caller’s array do not rewrite history', async () => {
    const notifier = new RecordingNotifier();
    const channels = ['#a'];
    await notify.run({ message: 'm', channels }, actionContext({ notifier }));
    channels.push('#b');
    notifier.messages().length = 0;
    assert.deepEqual(notifier.messages()[0]?.channels, ['#a']);
  });

  test('an aborted step sends nothing', async () => {
    const notifier = new RecordingNotifier();
    const controller = new AbortController();
    controller.abort();
    await rejectsWithActionError(
      notify.run({ message: 'm' }, actionContext({ notifier, signal: controller.signal })),
      { code: ActionErrorCodes.FAILED, retryable: false, message: /notify was aborted/ },
    );
    assert.deepEqual(notifier.messages(), []);
  });
});
