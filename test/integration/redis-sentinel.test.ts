/**
 * The region on Sentinel (a primary, one replica, one sentinel), with locks acknowledged by one
 * replica (`WAIT 1`). The primary is killed while a stream of host-down events is being decided:
 * Sentinel promotes the replica, the nodes (ioredis asking the sentinel again) carry on with it by
 * themselves. Until a replica is back (the old primary restarted, made a replica by Sentinel), no
 * lock counts as held, so nothing is remediated and events escalate `dependency_down`; once it is
 * back, remediations go on. Through all of it: every event is decided, no host is booted twice, no
 * host has two remediations.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import type { TestEvent } from '../helpers/cluster.js';
import { acknowledgedWrite, info, replicaOf, startSentinelSetup } from '../helpers/redis-topologies.js';
import type { SentinelProcesses } from '../helpers/redis-topologies.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
`;

describe('a region on Sentinel, its primary killed during a stream of events', { timeout: 300_000 }, () => {
  let redis: SentinelProcesses;
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    redis = await startSentinelSetup();
    stack = await LocalStack.start({
      services: SERVICES,
      fleet: { services: { 'sms-api': 14 } },
      redisTopology: {
        mode: 'sentinel',
        sentinels: [redis.sentinelAddress],
        master: redis.master,
        // The longest allowed: on a loaded 2-core machine a replica's acknowledgement can take 250 ms.
        replica_ack: { replicas: 1, timeout: '400ms' },
      },
      region: { thresholds: { vote_timeout: '3s' }, kinesis: { poll_interval: '50ms' } },
    });
    const client = new Redis({
      sentinels: [{ host: '127.0.0.1', port: Number(redis.sentinelAddress.split(':')[1]) }],
      name: redis.master,
      maxRetriesPerRequest: 1,
    });
    client.on('error', () => undefined);
    probe = new ClusterProbe(stack, client);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
    await redis?.stop();
  });

  test('nothing acts twice, no host has two runs, and the nodes carry on after the failover', async () => {
    const oldPrimary = redis.primary.port;
    const event = (n: number, again = false): TestEvent =>
      hostDown('sms-api', `sms-api-${n}`, again ? { source: 'second-sensor' } : {});
    const put: TestEvent[] = [];
    const send = async (e: TestEvent): Promise<void> => {
      put.push(e);
      await probe.put(e);
    };

    // Before: two hosts down, each reported twice (two sensors).
    for (const n of [1, 2]) stack.fleet.inject({ kind: 'host_down', host: `sms-api-${n}` });
    for (const n of [1, 2]) await send(event(n));
    for (const n of [1, 2]) await send(event(n, true));
    await probe.waitDecision(put[0]?.id ?? '', 60_000);

    // During: the primary dies while more reports arrive.
    for (const n of [3, 4, 5]) stack.fleet.inject({ kind: 'host_down', host: `sms-api-${n}` });
    await send(event(3));
    redis.primary.kill('SIGKILL');
    for (const n of [4, 5]) await send(event(n));
    await send(event(3, true));
    await waitFor(
      'the sentinel to promote the replica',
      async () => ((await redis.currentPrimaryPort()) === redis.replica.port ? true : undefined),
      60_000,
      100,
    );
    // The primary's process comes back (as systemd or Kubernetes would restart it), empty, set up
    // as a replica of the primary the sentinel names now (the sentinel would convert it too, but
    // on a loaded machine it may sit in TILT mode for 30 s first): locks can be acknowledged again.
    await redis.primary.restart();
    // Each poll points it at the primary the sentinel names at that moment, unless it already
    // follows that one (the sentinel may reconfigure it too, or name another primary meanwhile);
    // a timeout shows the last replication state and the server's log.
    let lastState = '';
    try {
      await waitFor(
        'the old primary to be a replica in sync',
        async () => {
          const current = await redis.currentPrimaryPort();
          lastState = await info(oldPrimary, 'replication');
          if (!lastState.includes('role:slave') || !lastState.includes(`master_port:${current}`)) {
            await replicaOf(oldPrimary, current);
            return undefined;
          }
          return lastState.includes('master_link_status:up') ? true : undefined;
        },
        90_000,
        200,
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nINFO replication of ${oldPrimary}:\n${lastState}\nits log:\n${redis.primary.logTail}`,
      );
    }
    // And the new primary counts it: a write there is acknowledged by one replica (what a lock needs).
    await waitFor(
      'the new primary to have a replica that acknowledges writes',
      async () => ((await acknowledgedWrite(redis.replica.port)) ? true : undefined),
      60_000,
      200,
    );

    // After: the nodes carry on with the new primary by themselves.
    for (const n of [6, 7]) stack.fleet.inject({ kind: 'host_down', host: `sms-api-${n}` });
    const lateOnes = [event(6), event(7)];
    for (const e of lateOnes) await send(e);

    const decisions = new Map<string, DecisionRecord>();
    for (const e of put) decisions.set(e.id, await probe.waitDecision(e.id, 120_000));
    for (const e of lateOnes) {
      const d = decisions.get(e.id);
      assert.equal(
        d?.decision,
        'act',
        `after the failover ${e.host}: ${d?.decision}/${d?.reason ?? ''} ${d?.error ?? ''}`,
      );
    }
    // Every act is the only one for its host, and nothing is booted twice.
    const acts = new Map<string, string[]>();
    for (const [id, d] of decisions)
      if (d.decision === 'act') acts.set(d.event.host ?? '', [...(acts.get(d.event.host ?? '') ?? []), id]);
    for (const [host, ids] of acts) assert.equal(ids.length, 1, `${host} acted on by ${ids.join(', ')}`);
    for (const e of lateOnes) await probe.finished(`run-${e.id}`, 120_000);
    const clones = new Map<string, number>();
    for (const c of stack.fleet.clones()) {
      const host = (c.body as { host?: string }).host ?? '';
      clones.set(host, (clones.get(host) ?? 0) + 1);
    }
    for (const [host, count] of clones) assert.equal(count, 1, `${host} booted ${count} times`);
    // What did not act says why; the reasons are the fail-safe ones.
    const reasons = [...decisions.values()]
      .filter((d) => d.decision !== 'act')
      .map((d) => (d.decision === 'duplicate' ? 'duplicate' : (d.reason ?? '')));
    for (const reason of reasons)
      assert.ok(
        ['dependency_down', 'duplicate', 'lock_held', 'recently_remediated'].includes(reason),
        `unexpected reason ${reason}: ${JSON.stringify(reasons)}`,
      );
    console.log(
      'sentinel failover: ' +
        put
          .map((e) => {
            const d = decisions.get(e.id);
            const why = d?.decision === 'act' ? 'act' : d?.decision === 'duplicate' ? 'duplicate' : d?.reason;
            return `${e.host ?? ''}:${why ?? '?'}${d?.error === undefined ? '' : ` (${d.error.slice(0, 90)})`}`;
          })
          .join('; '),
    );
  });
});
