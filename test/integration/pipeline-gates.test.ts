/**
 * The gates that count over time, through the real pipeline against a real redis-server, with the
 * pipeline's clock injected: windows slide when the test moves the clock, never because the machine
 * was slow. And the gates that keep a host from being remediated twice: a host that is not active in
 * the inventory, and a host remediated within `reremediate_after`.
 */
import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/records/decision.js';
import { PipelineRig } from '../helpers/pipeline.js';

const MINUTE = 60_000;
const names = Array.from({ length: 6 }, (_, i) => `svc-${i + 1}`);
const SERVICES =
  'services:\n' +
  '  storm:\n    profile: stateless\n    parameters: { rate_limit_threshold: 5, rate_limit_window: 10m, max_active_hosts: 2000 }\n' +
  '  sms-api:\n    profile: stateless\n    parameters: { min_active_hosts: 2, rate_limit_threshold: 1000, reremediate_after: 1h }\n' +
  names
    .map((n) => `  ${n}:\n    profile: stateless\n    parameters: { rate_limit_threshold: 1000 }\n`)
    .join('');

describe('windows on an injected clock', { timeout: 120_000 }, () => {
  let rig: PipelineRig;
  before(async () => {
    rig = await PipelineRig.start({
      services: SERVICES,
      fleet: { services: { storm: 40, 'sms-api': 6, ...Object.fromEntries(names.map((n) => [n, 4])) } },
      thresholds: { breaker_threshold: 3, breaker_window: '10m' },
    });
  });
  after(() => rig?.stop());
  beforeEach(() => rig.reset());

  async function decide(events: readonly Record<string, unknown>[]): Promise<DecisionRecord[]> {
    // One lane per host, as the partition key `service/host` gives.
    await rig.handle(events.map((e) => rig.record(e, `${String(e['service'])}/${String(e['host'])}`)));
    return Promise.all(events.map(async (e) => (await rig.decision(String(e['id'])))!));
  }

  test('rate limit: exactly five of a storm counted within the threshold, the rest rate_limited; normal again once the window has passed', async () => {
    const storm = Array.from({ length: 30 }, (_, i) => rig.hostDown('storm', `storm-${i + 1}`));
    const all = await decide(storm);
    const counts = all.map((d) => d.gates?.rate?.count ?? 0).sort((a, b) => a - b);
    assert.deepEqual(
      counts,
      Array.from({ length: 30 }, (_, i) => i + 1),
      'each event counted once',
    );
    for (const d of all) {
      const within = (d.gates?.rate?.count ?? 0) <= 5;
      assert.equal(
        d.reason === 'rate_limited',
        !within,
        `${d.event_id}: count ${d.gates?.rate?.count}, ${d.reason}`,
      );
    }
    // Just inside the window: still limited. Then the window passes (the clock, not the machine).
    rig.clock.advance(10 * MINUTE - 1);
    const [inside] = await decide([rig.hostDown('storm', 'storm-31')]);
    assert.equal(inside?.reason, 'rate_limited');
    rig.clock.advance(1);
    const [later] = await decide([rig.hostDown('storm', 'storm-32')]);
    assert.equal(later?.gates?.rate?.allowed, true, JSON.stringify(later?.gates));
    assert.notEqual(later?.reason, 'rate_limited');
  });

  test('circuit breaker: opens past three failing services, every later event breaker_open; closes once the window has passed', async () => {
    const all = await decide(names.map((n) => rig.hostDown(n, `${n}-1`)));
    const open = all.filter((d) => d.reason === 'breaker_open');
    assert.equal(open.length, 3, 'services four to six');
    for (const d of all) assert.equal(d.reason === 'breaker_open', (d.gates?.breaker?.services ?? 0) > 3);
    rig.clock.advance(10 * MINUTE);
    const [later] = await decide([rig.hostDown('svc-1', 'svc-1-2')]);
    assert.equal(later?.gates?.breaker?.open, false, JSON.stringify(later?.gates));
    assert.equal(later?.gates?.breaker?.services, 1);
  });
});

describe('a host is remediated only while it is the host in trouble', { timeout: 120_000 }, () => {
  let rig: PipelineRig;
  before(async () => {
    rig = await PipelineRig.start({ services: SERVICES, fleet: { services: { 'sms-api': 6 } } });
  });
  after(() => rig?.stop());
  beforeEach(() => rig.reset());

  function host(id: string): { state: string } {
    const found = rig.fleet.hosts('sms-api').find((h) => h.id === id);
    assert.ok(found, id);
    return found;
  }

  test('a host down and active: act (the baseline the next tests change one thing of)', async () => {
    rig.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const e = rig.hostDown('sms-api', 'sms-api-2');
    await rig.handle([rig.record(e)]);
    const d = await rig.decision(String(e['id']));
    assert.equal(d?.decision, 'act', JSON.stringify(d?.votes));
    assert.ok(d?.votes.every((v) => v.checks[0]?.name === 'HostActive' && v.checks[0].pass));
  });

  for (const state of ['forensics', 'out_of_lb', 'booting']) {
    test(`a host ${state} in the inventory, down: HostActive fails on every node, escalate checks_failed`, async () => {
      rig.fleet.inject({ kind: 'host_down', host: 'sms-api-3' });
      host('sms-api-3').state = state;
      try {
        const e = rig.hostDown('sms-api', 'sms-api-3');
        await rig.handle([rig.record(e)]);
        const d = await rig.decision(String(e['id']));
        assert.equal(d?.decision, 'escalate');
        assert.equal(d?.reason, 'checks_failed');
        for (const vote of d?.votes ?? []) {
          const check = vote.checks.find((c) => c.name === 'HostActive');
          assert.equal(check?.pass, false);
          assert.equal(check?.measured, `state=${state}`);
          assert.match(check?.detail ?? '', /not the host in trouble/);
        }
      } finally {
        host('sms-api-3').state = 'active';
      }
    });
  }

  test('a host remediated within reremediate_after: escalate recently_remediated before any vote; again after the window', async () => {
    rig.fleet.inject({ kind: 'host_down', host: 'sms-api-4' });
    const endedAt = rig.clock.ms;
    await rig.recent.record(
      'sms-api',
      'sms-api-4',
      {
        event_id: 'earlier-1',
        run_id: 'run-earlier-1',
        workflow: 'default.replace_host',
        started_at: new Date(endedAt - 5 * MINUTE).toISOString(),
        ended_at: new Date(endedAt).toISOString(),
        outcome: 'succeeded',
      },
      3_600_000,
    );
    // Another sensor, another state: not a duplicate, every check would pass.
    rig.clock.advance(59 * MINUTE);
    const other = rig.hostDown('sms-api', 'sms-api-4', {
      type: 'HealthcheckDown',
      source: 'hc',
      data: { status: 503 },
    });
    await rig.handle([rig.record(other)]);
    const d = await rig.decision(String(other['id']));
    assert.equal(d?.decision, 'escalate');
    assert.equal(d?.reason, 'recently_remediated');
    assert.equal(d?.votes.length, 0, 'no vote was asked');
    assert.deepEqual(
      { ...d?.gates?.remediated },
      {
        event_id: 'earlier-1',
        run_id: 'run-earlier-1',
        workflow: 'default.replace_host',
        started_at: new Date(endedAt - 5 * MINUTE).toISOString(),
        ended_at: new Date(endedAt).toISOString(),
        outcome: 'succeeded',
        window_ms: 3_600_000,
      },
    );
    // An hour after the end, the host is judged on its merits again.
    rig.clock.advance(MINUTE);
    const later = rig.hostDown('sms-api', 'sms-api-4');
    await rig.handle([rig.record(later)]);
    assert.equal((await rig.decision(String(later['id'])))?.decision, 'act');
  });

  test('a remediation on record as running whose lock is gone blocks a second one under the lock; so does one that ends during the votes', async () => {
    rig.fleet.inject({ kind: 'host_down', host: 'sms-api-5' });
    await rig.recent.record(
      'sms-api',
      'sms-api-5',
      {
        event_id: 'running-1',
        run_id: 'run-running-1',
        workflow: 'default.replace_host',
        started_at: rig.clock.iso(),
      },
      3_600_000,
    );
    const e = rig.hostDown('sms-api', 'sms-api-5');
    await rig.handle([rig.record(e)]);
    assert.equal((await rig.decision(String(e['id'])))?.reason, 'recently_remediated');

    // Ends while the votes of the next report are counted: seen once the lock is held.
    await rig.redis.del(rig.keys.remediated('sms-api', 'sms-api-5'));
    const next = rig.hostDown('sms-api', 'sms-api-5', {
      data: { host_state: 'UNREACHABLE', host_state_type: 'HARD' },
    });
    rig.duringVotes = () =>
      rig.recent.record(
        'sms-api',
        'sms-api-5',
        {
          event_id: 'running-1',
          run_id: 'run-running-1',
          workflow: 'default.replace_host',
          started_at: rig.clock.iso(),
          ended_at: rig.clock.iso(),
          outcome: 'succeeded',
        },
        3_600_000,
      );
    await rig.handle([rig.record(next)]);
    const d = await rig.decision(String(next['id']));
    assert.equal(d?.reason, 'recently_remediated', `${d?.decision}/${d?.reason}`);
    assert.ok(
      (d?.votes.filter((v) => v.pass).length ?? 0) >= 2,
      'the votes had passed: the lock step saw it',
    );
    assert.equal(
      await rig.locks.holder('host:sms-api/sms-api-5'),
      undefined,
      'the lock taken for it is freed',
    );
  });
});
