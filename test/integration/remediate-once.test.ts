/**
 * A host is remediated once: against three node processes, a host whose replacement succeeded is not
 * replaced again on a later report of any kind (another sensor, another state), and a host in
 * forensics is never acted on. Each trace, read from a node's REST API, says why.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
`;

interface Trace {
  decision: DecisionRecord;
  timeline: { stage: string; ok: boolean; title: string }[];
}

describe('a host is remediated once', { timeout: 240_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    stack = await LocalStack.start({
      services: SERVICES,
      region: { thresholds: { vote_timeout: '3s' }, kinesis: { poll_interval: '50ms' } },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  async function trace(id: string): Promise<Trace> {
    const res = await fetch(`${stack.apiUrl('a')}/v1/events/${encodeURIComponent(id)}`);
    assert.equal(res.status, 200, id);
    return (await res.json()) as Trace;
  }

  test('after a successful replacement, reports of every kind about the old host escalate recently_remediated; nothing boots twice', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const first = hostDown('sms-api', 'sms-api-2');
    await probe.put(first);
    const acted = await probe.waitDecision(first.id);
    assert.equal(acted.decision, 'act', `${acted.decision}/${acted.reason ?? ''}`);
    const run = await probe.finished(`run-${first.id}`);
    assert.equal(run.status, 'succeeded', JSON.stringify(run.failure));
    // Its end is on record before its lock goes.
    await probe.lockReleased('host:sms-api/sms-api-2');
    assert.equal(stack.fleet.hosts('sms-api').find((h) => h.id === 'sms-api-2')?.state, 'forensics');
    assert.equal(stack.fleet.clones().length, 1);

    // The old host still fails its health check; sensors keep talking about it.
    const later = [
      hostDown('sms-api', 'sms-api-2', { data: { host_state: 'UNREACHABLE', host_state_type: 'HARD' } }),
      hostDown('sms-api', 'sms-api-2', { type: 'HealthcheckDown', source: 'healthchecker', data: {} }),
      hostDown('sms-api', 'sms-api-2', {
        type: 'AWSScheduledEvent',
        source: 'aws',
        data: { event_code: 'instance-retirement' },
      }),
    ];
    for (const e of later) await probe.put(e);
    for (const e of later) {
      const d = await probe.waitDecision(e.id);
      assert.equal(d.decision, 'escalate', `${e.type}: ${d.decision}/${d.reason ?? ''}`);
      assert.equal(d.reason, 'recently_remediated', `${e.type}: ${d.reason ?? ''} ${d.error ?? ''}`);
      assert.equal(d.gates?.remediated?.event_id, first.id);
      assert.equal(d.gates?.remediated?.outcome, 'succeeded');
      assert.equal(d.gates?.remediated?.window_ms, 3_600_000);
      assert.equal(d.votes.length, 0, 'no vote was asked');
      const t = await trace(e.id);
      assert.match(t.decision.reason_text ?? '', /remediated this host recently/);
      const gates = t.timeline.find((x) => x.stage === 'gates');
      assert.equal(gates?.ok, false);
      assert.match(
        gates?.title ?? '',
        new RegExp(`remediated recently by event ${first.id} \\(run-${first.id}, succeeded at`),
      );
    }
    assert.equal(stack.fleet.clones().length, 1, 'one replacement booted, not two');
    assert.equal(await probe.run(`run-${later[0]!.id}`), undefined);
  });

  test('a host in forensics (moved there by a person) is never acted on: HostActive fails on every node', async () => {
    const host = stack.fleet.hosts('sms-api').find((h) => h.id === 'sms-api-5');
    assert.ok(host);
    (host as { state: string }).state = 'forensics';
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-5' });
    const e = hostDown('sms-api', 'sms-api-5');
    await probe.put(e);
    const d = await probe.waitDecision(e.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'checks_failed');
    // Escalated as soon as two votes failed (a quorum out of reach); the third may come late.
    assert.ok(d.votes.length >= 2, `${d.votes.length} votes`);
    for (const vote of d.votes) {
      const check = vote.checks.find((c) => c.name === 'HostActive');
      assert.equal(check?.pass, false, vote.node);
      assert.equal(check?.measured, 'state=forensics');
    }
    const t = await trace(e.id);
    const votes = t.timeline.filter((x) => x.stage === 'vote');
    assert.ok(votes.length >= 2);
    assert.equal(await probe.run(`run-${e.id}`), undefined);
  });
});
