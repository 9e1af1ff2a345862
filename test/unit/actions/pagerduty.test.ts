import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { PagerPort } from '../../../src/actions/definition.js';
import { ActionError, ActionErrorCodes } from '../../../src/actions/errors.js';
import {
  pagerdutyAcknowledge,
  pagerdutyEscalate,
  pagerdutyNote,
  pagerdutyResolve,
} from '../../../src/actions/pagerduty.js';
import { LzError } from '../../../src/common/errors.js';
import { RecordingPager } from '../../../src/pager/recording-pager.js';
import { actionContext, rejectsWithActionError, runChecked } from './context.js';

const { FAILED } = ActionErrorCodes;

describe('pagerduty actions through the recording pager', () => {
  test('acknowledge, note, escalate and resolve reach the pager in order, with their details', async () => {
    let clock = 1_000;
    const pager = new RecordingPager(() => clock++);
    const context = actionContext({ pager });
    const ack = await runChecked(pagerdutyAcknowledge, { incident_key: 'k1' }, context);
    const note = await runChecked(pagerdutyNote, { incident_key: 'k1', content: 'booting i-9' }, context);
    const escalated = await runChecked(
      pagerdutyEscalate,
      { incident_key: 'k1', reason: 'boot failed' },
      context,
    );
    const resolved = await runChecked(pagerdutyResolve, { incident_key: 'k1', note: 'replaced' }, context);

    assert.equal(ack.status, 'acknowledged');
    assert.equal(resolved.status, 'resolved');
    assert.match(ack.incident_id as string, /^P[0-9A-F]{6}$/);
    assert.equal(resolved.incident_id, ack.incident_id, 'one incident per key');
    assert.equal(escalated.incident_id, ack.incident_id);
    assert.equal(escalated.escalation_level, 2, 'the first escalation goes from level 1 to 2');
    assert.match(note.note_id as string, /^N\d+$/);
    assert.deepEqual(pager.calls(), [
      { verb: 'acknowledge', incidentKey: 'k1', detail: undefined, at: 1_000 },
      { verb: 'note', incidentKey: 'k1', detail: 'booting i-9', at: 1_001 },
      { verb: 'escalate', incidentKey: 'k1', detail: 'boot failed', at: 1_002 },
      { verb: 'resolve', incidentKey: 'k1', detail: 'replaced', at: 1_003 },
    ]);
  });

  test('escalation levels count per incident key; note ids are distinct; incident ids differ by key', async () => {
    const pager = new RecordingPager();
    const context = actionContext({ pager });
    const escalate = (key: string) =>
      pagerdutyEscalate.run({ incident_key: key, reason: 'r' }, context).then((o) => o.escalation_level);
    assert.equal(await escalate('a'), 2);
    assert.equal(await escalate('a'), 3);
    assert.equal(await escalate('b'), 2);
    const n1 = await pagerdutyNote.run({ incident_key: 'a', content: 'x' }, context);
    const n2 = await pagerdutyNote.run({ incident_key: 'a', content: 'x' }, context);
    assert.notEqual(n1.note_id, n2.note_id);
    const a = await pagerdutyAcknowledge.run({ incident_key: 'a' }, context);
    const b = await pagerdutyAcknowledge.run({ incident_key: 'b' }, context);
    assert.notEqual(a.incident_id, b.incident_id);
  });

  test('resolve without a note records none', async () => {
    const pager = new RecordingPager();
    await pagerdutyResolve.run({ incident_key: 'k' }, actionContext({ pager }));
    assert.equal(pager.calls()[0]?.detail, undefined);
  });

  test('calls() is a copy', async () => {
    const pager = new RecordingPager();
    await pagerdutyAcknowledge.run({ incident_key: 'k' }, actionContext({ pager }));
    pager.calls().length = 0;
    assert.equal(pager.calls().length, 1);
  });

  test('an aborted step pages nobody', async () => {
    const pager = new RecordingPager();
    const controller = new AbortController();
    controller.abort();
    await rejectsWithActionError(
      pagerdutyEscalate.run(
        { incident_key: 'k', reason: 'r' },
        actionContext({ pager, signal: controller.signal }),
      ),
      { code: FAILED, retryable: false, message: /pagerduty.escalate was aborted/ },
    );
    assert.deepEqual(pager.calls(), []);
  });

  test('a port that hangs is cut off by the step signal', async () => {
    const hanging: PagerPort = {
      acknowledge: () => new Promise(() => undefined),
      resolve: () => new Promise(() => undefined),
      escalate: () => new Promise(() => undefined),
      note: () => new Promise(() => undefined),
    };
    const controller = new AbortController();
    const running = pagerdutyAcknowledge.run(
      { incident_key: 'k' },
      actionContext({ pager: hanging, signal: controller.signal }),
    );
    setTimeout(() => controller.abort(), 10);
    await rejectsWithActionError(running, { code: FAILED, retryable: false, message: /aborted/ });
  });

  test("a port's failure becomes FAILED: retryable unless the port says otherwise", async () => {
    const failing = (error: Error): PagerPort => ({
      acknowledge: () => Promise.reject(error),
      resolve: () => Promise.reject(error),
      escalate: () => Promise.reject(error),
      note: () => Promise.reject(error),
    });
    await rejectsWithActionError(
      pagerdutyAcknowledge.run(
        { incident_key: 'k' },
        actionContext({ pager: failing(new Error('503 from API')) }),
      ),
      { code: FAILED, retryable: true, message: /pagerduty.acknowledge failed: 503 from API/ },
    );
    await rejectsWithActionError(
      pagerdutyNote.run(
        { incident_key: 'k', content: 'c' },
        actionContext({ pager: failing(new LzError('LZ_ERR_PAGER_NOT_FOUND', 'no such incident')) }),
      ),
      { code: FAILED, retryable: false, message: /no such incident/ },
    );
    const own = new ActionError(ActionErrorCodes.BAD_INPUT, 'passed through');
    await assert.rejects(
      pagerdutyResolve.run({ incident_key: 'k' }, actionContext({ pager: failing(own) })),
      own,
    );
  });
});
