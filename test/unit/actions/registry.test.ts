import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { ACTIONS } from '../../../src/actions/registry.js';

describe('action registry', () => {
  test('every built-in action runs, and its schemas compile', () => {
    const ajv = new Ajv({ allErrors: true });
    assert.deepEqual([...ACTIONS.keys()].sort(), [
      'exec',
      'healthcheck.wait_healthy',
      'http.request',
      'notify',
      'pagerduty.acknowledge',
      'pagerduty.escalate',
      'pagerduty.note',
      'pagerduty.resolve',
      'wait',
    ]);
    for (const action of ACTIONS.values()) {
      assert.equal(typeof action.run, 'function', action.name);
      ajv.compile(action.inputs);
      ajv.compile(action.outputs);
    }
  });
});
