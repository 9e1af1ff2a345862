import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.js';
import type { CompiledConfig } from '../../../src/config/types.js';
import { defaultCatalog } from '../../../src/controller/catalog.js';
import type { LzEvent } from '../../../src/events/schema.js';
import { Matcher } from '../../../src/matching/matcher.js';
import { REPO } from '../../helpers/config-copy.js';

function event(overrides: Partial<LzEvent> & { data?: Record<string, unknown> } = {}): LzEvent {
  return {
    id: 'ev-1',
    type: 'NagiosHostAlarm',
    source: 'nagios',
    time: '2026-11-22T03:00:00Z',
    environment: 'prod',
    service: 'voice-gateway',
    host: 'voice-gateway-1',
    data: { host_state: 'DOWN', host_state_type: 'HARD' },
    ...overrides,
  };
}

describe('Matcher', () => {
  let config: CompiledConfig;
  let matcher: Matcher;
  before(async () => {
    const result = await loadConfig(join(REPO, 'deploy', 'local'), defaultCatalog());
    assert.ok(result.ok);
    config = result.config;
    matcher = new Matcher(config.services);
  });

  test('the sample rule matches a HARD host down in each of its environments and states', () => {
    for (const environment of ['dev', 'stage', 'prod']) {
      for (const host_state of ['DOWN', 'UNREACHABLE']) {
        assert.equal(
          matcher.match(event({ environment, data: { host_state, host_state_type: 'HARD' } }))?.id,
          'voice-gateway/nagios_host_down',
        );
      }
    }
  });

  test('alternatives are whole values: no prefix, substring, case or pipe-joined match', () => {
    for (const host_state of ['DOWNED', 'DOW', 'down', 'DOWN|UNREACHABLE', ' DOWN', 'UP']) {
      assert.equal(
        matcher.match(event({ data: { host_state, host_state_type: 'HARD' } })),
        undefined,
        host_state,
      );
    }
    assert.equal(matcher.match(event({ environment: 'production' })), undefined);
    assert.equal(matcher.match(event({ data: { host_state: 'DOWN', host_state_type: 'SOFT' } })), undefined);
  });

  test('a missing data field or a non-scalar one never matches', () => {
    assert.equal(matcher.match(event({ data: { host_state: 'DOWN' } })), undefined);
    assert.equal(
      matcher.match(event({ data: { host_state: ['DOWN'], host_state_type: 'HARD' } })),
      undefined,
    );
  });

  test('the profile order decides: the standby pivot rule wins for an active host, the stateless rule otherwise', () => {
    const active = event({
      service: 'billing-web',
      data: { host_state: 'DOWN', host_state_type: 'HARD', role: 'active' },
    });
    assert.equal(matcher.match(active)?.name, 'standby_pivot_host_down');
    const standby = event({
      service: 'billing-web',
      data: { host_state: 'DOWN', host_state_type: 'HARD', role: 'standby' },
    });
    assert.equal(matcher.match(standby)?.name, 'nagios_host_down');
  });

  test('an unsubscribed service or an unknown event type matches nothing', () => {
    assert.equal(matcher.match(event({ service: 'not-subscribed' })), undefined);
    assert.equal(matcher.match(event({ type: 'DiskFull' })), undefined);
  });

  test('explain names the first criterion each rule failed', () => {
    const e = matcher.explain(event({ environment: 'qa' }));
    assert.equal(e.subscribed, true);
    assert.equal(e.matched, undefined);
    const verdict = e.considered.find((v) => v.rule === 'nagios_host_down');
    assert.deepEqual(verdict?.miss, { criterion: 'environment', expected: 'dev|stage|prod', actual: 'qa' });
    assert.equal(e.considered.find((v) => v.rule === 'healthcheck_down')?.miss?.criterion, 'event_type');

    const data = matcher.explain(event({ data: { host_state: 'UP', host_state_type: 'HARD' } }));
    assert.deepEqual(data.considered[0]?.miss, {
      criterion: 'event_data.host_state',
      expected: 'DOWN|UNREACHABLE',
      actual: 'UP',
    });
    assert.equal(matcher.explain(event({ service: 'nope' })).subscribed, false);
  });

  test('numbers and booleans in data compare as their text', () => {
    // aws_scheduled_event wants stage|prod and an event_code; a number never equals a word.
    const aws = event({ type: 'AWSScheduledEvent', data: { event_code: 'instance-retirement' } });
    assert.equal(matcher.match(aws)?.name, 'aws_scheduled_event');
    assert.equal(matcher.match({ ...aws, data: { event_code: 42 } }), undefined);
  });
});
