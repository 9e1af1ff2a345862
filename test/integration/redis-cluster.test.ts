/**
 * The region on a real Redis Cluster of three primaries (`redis-cli --cluster create`): the three
 * node processes decide an event, take its lock, run its workflow and trim the audit, every script
 * finding its keys in one slot; all of the region's keys are on the one primary of its slot. No
 * replica here, so `replica_ack.replicas: 0` says so (the Sentinel test covers waiting for one).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { viaRedis } from '../../src/common/dependency.js';
import type { LzError } from '../../src/common/errors.js';
import { serverOf } from '../../src/common/redis-node.js';
import { DecisionStore } from '../../src/controller/decision-store.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import { startRedisCluster } from '../helpers/redis-topologies.js';
import type { RedisClusterProcesses } from '../helpers/redis-topologies.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
`;

describe('a region on a Redis Cluster of three primaries', { timeout: 240_000 }, () => {
  let redis: RedisClusterProcesses;
  let stack: LocalStack;
  let probe: ClusterProbe;
  let client: Cluster;

  before(async () => {
    redis = await startRedisCluster(3);
    stack = await LocalStack.start({
      services: SERVICES,
      redisTopology: { mode: 'cluster', nodes: [...redis.addresses], replica_ack: { replicas: 0 } },
      region: { thresholds: { vote_timeout: '3s' }, kinesis: { poll_interval: '50ms' } },
    });
    client = new Cluster(
      redis.addresses.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
      { redisOptions: { maxRetriesPerRequest: 1 } },
    );
    probe = new ClusterProbe(stack, client);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
    await redis?.stop();
  });

  test('an event is decided, its lock taken and released, its workflow run, its audit trimmed', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const event = hostDown('sms-api', 'sms-api-2', { incident_key: `cluster-${Date.now()}` });
    probe.page(event);
    await probe.put(event);
    const decided = await probe.waitDecision(event.id, 60_000);
    assert.equal(
      decided.decision,
      'act',
      `${decided.decision}/${decided.reason ?? ''} ${decided.error ?? ''}`,
    );
    assert.equal(decided.votes.filter((v) => v.pass).length >= 2, true);
    assert.ok(decided.lock !== undefined && decided.lock.token >= 1, 'the decision holds a fenced lock');
    const run = await probe.finished(`run-${event.id}`);
    assert.equal(run.status, 'succeeded', JSON.stringify(run.failure));
    await probe.lockReleased('host:sms-api/sms-api-2');
    assert.equal(stack.fleet.clones().length, 1);
    // Every orchestrator call of the run carried its lock's fencing token.
    const calls = stack.fleet.orchestratorRequests();
    assert.ok(calls.length >= 4, `${calls.length} orchestrator calls`);
    for (const call of calls)
      assert.deepEqual(
        call.fence,
        { token: String(decided.lock?.token), resource: 'host:sms-api/sms-api-2' },
        call.path,
      );
    assert.equal(stack.pagerduty.incident(event.incident_key ?? '')?.status, 'resolved');

    // Every key of the region is on the primary of its tag's slot, none on the other two.
    const home = serverOf(client, probe.keys.tag);
    assert.ok(home !== undefined);
    const sizes = await Promise.all(
      client.nodes('master').map(async (n) => [n === home, await n.dbsize()] as const),
    );
    for (const [isHome, size] of sizes)
      assert.ok(isHome ? size > 5 : size === 0, `${isHome ? 'home' : 'other'} primary holds ${size} keys`);

    // The cluster view lists the leased shards (a SCAN, sent to the primary of the region's slot).
    const view = (await (await fetch(`${stack.apiUrl('a')}/v1/cluster`)).json()) as {
      shards: unknown[];
      nodes_up: number;
    };
    assert.equal(view.nodes_up, 3);
    assert.equal(view.shards.length, 4, JSON.stringify(view.shards));

    // A command across slots is refused the same way every time: not retryable (not "Redis down").
    const crossed = await viaRedis('mget', () => client.mget('{a}x', '{b}y')).catch((e: unknown) => e);
    assert.equal((crossed as LzError).code, 'LZ_ERR_REDIS_REFUSED', String(crossed));
    assert.match((crossed as Error).message, /CROSSSLOT/);

    // The audit trim (a MULTI over the decision, its audit and attempt keys, and the index).
    const store = new DecisionStore(client, probe.keys);
    const removed = await store.trim(Date.now() + 1000, 1, 0, 0);
    assert.ok(removed >= 1, `trim removed ${removed}`);
    assert.equal(await probe.decision(event.id), undefined, 'the decision is trimmed');
  });
});
