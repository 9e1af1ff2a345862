/**
 * A region on IPv6: three node processes whose gRPC and API addresses are `[::1]:port`, voting over
 * mutual TLS with certificates that name `::1`, decide an event as the IPv4 region does.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import { hasIpv6Loopback } from '../helpers/ipv6.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
`;

describe('a region on IPv6 loopback', { timeout: 180_000 }, () => {
  let stack: LocalStack | undefined;
  let probe: ClusterProbe | undefined;

  before(async () => {
    // Every machine this project runs its tests on has an IPv6 loopback; without one, say so.
    assert.ok(
      await hasIpv6Loopback(),
      'this machine has no IPv6 loopback (::1): an IPv6 region cannot be tested here',
    );
    stack = await LocalStack.start({
      loopback: '::1',
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

  test('three nodes at [::1] decide a host really down: act, on passing votes from three zones', async () => {
    assert.ok(stack !== undefined && probe !== undefined);
    for (const node of stack.region.nodes) {
      assert.match(node.grpc, /^\[::1\]:\d+$/, node.id);
      assert.match(node.api, /^\[::1\]:\d+$/, node.id);
    }
    // Every node sees both others over gRPC on [::1] (Ping over mutual TLS), as /readyz reports.
    for (const node of stack.region.nodes) {
      const ready = await waitFor(`${node.id} to see a quorum of 3`, async () => {
        const res = await fetch(`${stack?.apiUrl(node.id)}/readyz`);
        const body = (await res.json()) as { quorum?: { voters: string[] } };
        return body.quorum?.voters.length === 3 ? body : undefined;
      });
      assert.deepEqual([...(ready.quorum?.voters ?? [])].sort(), ['a', 'b', 'c']);
    }

    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-1' });
    const event = hostDown('sms-api', 'sms-api-1');
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', JSON.stringify(d, null, 2));
    const passing = d.votes.filter((v) => v.pass).map((v) => v.zone);
    assert.ok(passing.length >= 2, `passing votes: ${passing.join(', ')}`);
    assert.equal(new Set(passing).size, passing.length, 'each passing vote from its own zone');
    // Votes came from the other nodes too, not only the coordinator's own.
    assert.ok(
      d.votes.some((v) => v.node !== d.coordinator.node),
      `votes: ${d.votes.map((v) => v.node).join(', ')}`,
    );
    const run = await probe.finished(`run-${event.id}`);
    assert.equal(run.status, 'succeeded');
  });
});
