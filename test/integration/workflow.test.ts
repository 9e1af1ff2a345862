/**
 * Remediation end to end: a host-down event is decided by the three nodes, and the rule's workflow
 * (default.replace_host) runs against the fleet simulator's orchestrator API. Run state is read
 * from Redis, the fleet's state from the simulator.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
  voice-gateway:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
  quick:
    profile: stateless
    parameters: { rate_limit_threshold: 10000, workflow_timeout: 6s }
`;

describe('workflows', { timeout: 240_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    stack = await LocalStack.start({
      services: SERVICES,
      fleet: { services: { 'sms-api': 6, 'voice-gateway': 4, quick: 4 } },
      region: {
        thresholds: { vote_timeout: '3s' },
        kinesis: { lease_ttl: '3s' },
        workflows: { lease_ttl: '3s' },
      },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  test('host down: the failed host leaves the load balancer for forensics; a healthy replacement joins; every step is recorded; the lock is released', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const event = hostDown('sms-api', 'sms-api-2', { incident_key: 'PD-100' });
    probe.page(event);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''}`);
    assert.equal(d.lock?.resource, 'host:sms-api/sms-api-2');
    const r = await probe.finished(`run-${event.id}`);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));

    const hosts = stack.fleet.hosts('sms-api');
    assert.equal(hosts.find((h) => h.id === 'sms-api-2')?.state, 'forensics');
    const replacements = hosts.filter((h) => h.id.startsWith('sms-api-r'));
    assert.equal(replacements.length, 1);
    assert.equal(replacements[0]?.state, 'active', 'in the load balancer');
    assert.equal(r.steps['boot']?.outputs?.['body'] !== undefined, true);

    for (const id of ['acknowledge', 'lb_out', 'boot', 'verify', 'lb_in', 'forensics', 'resolve']) {
      const s = r.steps[id];
      assert.equal(s?.status, 'succeeded', id);
      assert.ok(
        s.started_at !== undefined && s.finished_at !== undefined && (s.duration_ms ?? -1) >= 0,
        `${id} has timings`,
      );
    }
    await probe.lockReleased('host:sms-api/sms-api-2');
  });

  test('boot fails: the run fails, the page is escalated, the lock is released', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'voice-gateway-1' });
    stack.fleet.inject({ kind: 'boot_fails', service: 'voice-gateway' });
    const event = hostDown('voice-gateway', 'voice-gateway-1', { incident_key: 'PD-200' });
    probe.page(event);
    await probe.put(event);
    assert.equal((await probe.waitDecision(event.id)).decision, 'act');
    const r = await probe.finished(`run-${event.id}`);
    assert.equal(r.status, 'failed');
    assert.equal(r.failure?.step, 'boot');
    assert.equal(r.steps['verify']?.status, 'pending', 'nothing after the failed step');
    assert.equal(r.steps['escalate']?.status, 'succeeded');
    assert.match(
      String((r.steps['escalate']?.inputs as { reason?: string } | undefined)?.reason),
      /failed at step boot/,
    );
    await probe.lockReleased('host:voice-gateway/voice-gateway-1');
    stack.fleet.clear();
  });

  test('the replacement never becomes healthy: the run times out and escalates', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'quick-1' });
    stack.fleet.inject({ kind: 'never_healthy', service: 'quick' });
    const event = hostDown('quick', 'quick-1', { incident_key: 'PD-300' });
    probe.page(event);
    await probe.put(event);
    assert.equal((await probe.waitDecision(event.id)).decision, 'act');
    const r = await probe.finished(`run-${event.id}`, 30_000);
    assert.equal(r.status, 'failed');
    assert.deepEqual([r.failure?.step, r.failure?.reason], ['verify', 'timeout']);
    assert.equal(r.steps['escalate']?.status, 'succeeded');
    // Released by the run's end, just after its state is written: waited for, not raced.
    await probe.lockReleased('host:quick/quick-1');
    stack.fleet.clear();
  });

  test('the lock taken from a running remediation: it stops where it is, fails (lock_lost) and escalates; the new holder keeps the lock', async () => {
    stack.fleet.setBootDelay(8000);
    try {
      stack.fleet.inject({ kind: 'host_down', host: 'voice-gateway-2' });
      const event = hostDown('voice-gateway', 'voice-gateway-2', { incident_key: 'PD-250' });
      probe.page(event);
      await probe.put(event);
      assert.equal((await probe.waitDecision(event.id)).decision, 'act');
      const id = `run-${event.id}`;
      await waitFor(
        'the replacement to be verified',
        async () => ((await probe.run(id))?.steps['verify']?.status === 'running' ? true : undefined),
        30_000,
      );
      // As if Redis had lost the key and another remediation had taken the host since.
      const key = probe.keys.lock('host:voice-gateway/voice-gateway-2');
      await probe.redis.set(key, 'someone-else:999', 'PX', 60_000);
      const r = await probe.finished(id, 30_000);
      assert.equal(r.status, 'failed');
      assert.deepEqual([r.failure?.step, r.failure?.reason], ['verify', 'lock_lost']);
      assert.match(r.failure?.message ?? '', /lost its resource lock host:voice-gateway\/voice-gateway-2/);
      for (const later of ['lb_in', 'forensics', 'resolve'])
        assert.equal(r.steps[later]?.status, 'pending', `${later} never started`);
      assert.equal(r.steps['escalate']?.status, 'succeeded');
      assert.equal(await probe.redis.get(key), 'someone-else:999', "the other holder's lock is not released");
      await probe.redis.del(key);
    } finally {
      stack.fleet.setBootDelay(0);
      stack.fleet.clear();
    }
  });

  test('the coordinating node killed mid-run: another node finishes it; no succeeded step runs again; one replacement', async () => {
    stack.fleet.setBootDelay(4000);
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-4' });
    const event = hostDown('sms-api', 'sms-api-4', { incident_key: 'PD-400' });
    probe.page(event);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act');
    const id = `run-${event.id}`;
    await waitFor(
      'the replacement to be booting',
      async () => ((await probe.run(id))?.steps['boot']?.status === 'succeeded' ? true : undefined),
      30_000,
    );
    const coordinator = d.coordinator.node;
    await stack.killNode(coordinator, 'SIGKILL');

    const r = await probe.finished(id, 60_000);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
    assert.ok(
      r.nodes.length >= 2 && r.nodes[0] === coordinator && !r.nodes.slice(1).includes(coordinator),
      JSON.stringify(r.nodes),
    );
    const clones = stack.fleet.clones().filter((c) => JSON.stringify(c.body).includes('sms-api-4'));
    assert.equal(clones.length, 1, 'booted once');
    const removals = stack.fleet
      .orchestratorRequests('/v1/lb/remove')
      .filter((c) => JSON.stringify(c.body).includes('sms-api-4'));
    assert.equal(removals.length, 1, 'taken out of the load balancer once');
    assert.equal(
      stack.fleet.hosts('sms-api').filter((h) => h.id.startsWith('sms-api-r')).length,
      2,
      'one replacement for this run (one from the first test)',
    );
    assert.equal(stack.fleet.hosts('sms-api').find((h) => h.id === 'sms-api-4')?.state, 'forensics');
  });
});
