/**
 * The cluster core end to end, with real parts only: a redis-server and kinesis-local started for
 * the test, the fleet simulator, and three controller nodes as separate processes voting over gRPC.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, compareSequence, hostDown } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

// The shipped services, with rate limits out of the way: these tests are about votes, not storms.
const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
  voice-gateway:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
  billing-web:
    profile: stateless_with_standby_pivot
    parameters: { rate_limit_threshold: 10000 }
`;

const REGION = { thresholds: { vote_timeout: '3s' }, kinesis: { lease_ttl: '3s', poll_interval: '50ms' } };

function passingZones(d: DecisionRecord): string[] {
  return d.votes
    .filter((v) => v.pass && v.checks.some((c) => c.name === 'HealthCheckDown' && c.pass))
    .map((v) => v.zone);
}

describe('three nodes decide by quorum', { timeout: 180_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    stack = await LocalStack.start({ region: REGION, shards: 4, services: SERVICES });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  test('a host really down (HARD): act, on passing votes from different zones', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-1' });
    const event = hostDown('sms-api', 'sms-api-1');
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', JSON.stringify(d, null, 2));
    assert.equal(d.rule?.id, 'sms-api/nagios_host_down');
    const zones = passingZones(d);
    assert.ok(zones.length >= 2, `passing HealthCheckDown votes: ${zones.join(', ')}`);
    assert.equal(new Set(zones).size, zones.length, 'each passing vote from its own zone');
    const evidence = d.votes[0]?.checks.find((c) => c.name === 'HealthCheckDown');
    assert.match(evidence?.measured ?? '', /status 503 from local-1[abc]/);
    const min = d.votes[0]?.checks.find((c) => c.name === 'MinActiveHosts');
    assert.equal(min?.threshold, '>= 3', 'sms-api overrides min_active_hosts to 3');
  });

  test('the host unreachable from one zone only (a partition): escalate, never act', async () => {
    stack.fleet.inject({ kind: 'unreachable', host: 'sms-api-2', from: '127.0.0.2' });
    const event = hostDown('sms-api', 'sms-api-2');
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.ok(d.reason === 'checks_failed' || d.reason === 'no_quorum', d.reason);
    // Only node b (127.0.0.2, zone local-1b) may have seen the host down.
    const all = [...d.votes, ...(d.late_votes ?? [])];
    for (const vote of all)
      assert.equal(vote.pass, vote.zone === 'local-1b', `${vote.node}: ${JSON.stringify(vote.checks)}`);
  });

  test('a downstream failure (every host of the service failing): PeerCheck fails, escalate', async () => {
    stack.fleet.inject({ kind: 'downstream', service: 'voice-gateway' });
    const event = hostDown('voice-gateway', 'voice-gateway-2', { type: 'HealthcheckDown', data: {} });
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'checks_failed');
    assert.equal(d.rule?.name, 'healthcheck_down');
    for (const vote of d.votes) {
      const peer = vote.checks.find((c) => c.name === 'PeerCheck');
      assert.equal(peer?.pass, false, vote.node);
      assert.match(peer?.measured ?? '', /healthy_peers=0\/3/);
      assert.equal(
        vote.checks.find((c) => c.name === 'HealthCheckDown')?.pass,
        true,
        'the host itself is down too',
      );
    }
  });

  test('MinActiveHosts violated (the service at its minimum): escalate', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'billing-web-1' });
    const event = hostDown('billing-web', 'billing-web-1', {
      data: { host_state: 'DOWN', host_state_type: 'HARD', role: 'standby' },
    });
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'checks_failed');
    for (const vote of d.votes) {
      const min = vote.checks.find((c) => c.name === 'MinActiveHosts');
      assert.deepEqual([min?.pass, min?.measured, min?.threshold], [false, 'healthy_others=1', '>= 2']);
    }
  });

  test('an event that no rule matches: escalate no_rule', async () => {
    const unknown = hostDown('not-subscribed', 'x-1');
    const soft = hostDown('sms-api', 'sms-api-5', { data: { host_state: 'DOWN', host_state_type: 'SOFT' } });
    await probe.put(unknown);
    await probe.put(soft);
    for (const event of [unknown, soft]) {
      const d = await probe.waitDecision(event.id);
      assert.equal(d.decision, 'escalate');
      assert.equal(d.reason, 'no_rule');
      assert.equal(d.votes.length, 0);
    }
  });

  test('a record of each rejected kind between two good ones on one shard: each rejected and recorded, both decided, the checkpoint past all', async () => {
    const key = 'sms-api/sms-api-6';
    const first = hostDown('sms-api', 'sms-api-6', { data: { host_state: 'UP', host_state_type: 'HARD' } });
    const second = hostDown('sms-api', 'sms-api-6', { data: { host_state: 'UP', host_state_type: 'HARD' } });
    const envelope = (data: unknown): Buffer =>
      Buffer.from(JSON.stringify({ ...hostDown('sms-api', 'sms-api-6'), data }));
    const deep = envelope('DEEP')
      .toString()
      .replace('"DEEP"', '['.repeat(20_000) + ']'.repeat(20_000));
    const poison: Record<string, Buffer> = {
      LZ_ERR_EVENT_NOT_JSON: Buffer.from('{"id": "broken", "type": '),
      LZ_ERR_EVENT_NOT_UTF8: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      LZ_ERR_EVENT_TOO_LARGE: envelope({ blob: 'x'.repeat(70_000) }),
      LZ_ERR_EVENT_INVALID: Buffer.from(JSON.stringify({ id: 'no-service', type: 'NagiosHostAlarm' })),
      LZ_ERR_EVENT_TOO_DEEP: Buffer.from(deep),
      LZ_ERR_EVENT_TOO_MANY_ITEMS: envelope({ list: Array.from({ length: 1000 }, () => 1) }),
      LZ_ERR_EVENT_STRING_TOO_LONG: envelope({ output: 'x'.repeat(20_000) }),
      LZ_ERR_EVENT_TOO_MANY_KEYS: envelope(
        Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])),
      ),
    };
    // Valid, and every check passes, but its rule locks a host and the event names none: set aside
    // as a decision of its own (its claim was a node's), reason unprocessable.
    const unprocessable = {
      ...hostDown('sms-api', 'unused'),
      host: undefined,
      resource: 'i-0abc',
      type: 'AWSScheduledEvent',
      data: { event_code: 'instance-retirement' },
    };
    const a = await probe.put(first, key);
    const bad: { code: string; sequence: string; shard: string }[] = [];
    for (const [code, bytes] of Object.entries(poison)) bad.push({ code, ...(await probe.put(bytes, key)) });
    const u = await probe.put(Buffer.from(JSON.stringify(unprocessable)), key);
    const b = await probe.put(second, key);
    assert.equal(new Set([a.shard, b.shard, u.shard, ...bad.map((x) => x.shard)]).size, 1, 'one shard');
    await probe.waitDecision(first.id);
    await probe.waitDecision(second.id);
    const aside = await probe.waitDecision(unprocessable.id);
    assert.equal(aside.reason, 'unprocessable');
    assert.match(aside.error ?? '', /LZ_ERR_EVENT_UNPROCESSABLE: .*needs a host name/);
    assert.equal(aside.set_aside?.code, 'LZ_ERR_EVENT_UNPROCESSABLE');
    const rejected = await waitFor('every rejected record', async () => {
      const all = await probe.rejected();
      const found = bad.map((x) => all.find((r) => r.sequence === x.sequence));
      return found.every((r) => r !== undefined) ? found : undefined;
    });
    assert.deepEqual(
      rejected.map((r) => r?.code),
      bad.map((x) => x.code),
    );
    for (const [i, r] of rejected.entries()) {
      const sent = Object.values(poison)[i]!;
      assert.deepEqual(
        Buffer.from(r?.raw ?? '', 'base64'),
        sent.subarray(0, 4096),
        `${r?.code}: its first bytes`,
      );
      assert.ok((r?.message ?? '').length > 0);
    }
    await waitFor('the checkpoint past the last record', async () => {
      const cp = await probe.checkpoint(b.shard);
      return cp !== undefined && compareSequence(cp, b.sequence) >= 0 ? cp : undefined;
    });
  });

  test('SIGTERM: a clean stop hands the shards over at once; a restarted node gets its share back', async () => {
    const shards = [
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      'shardId-000000000003',
    ];
    await waitFor('node c to hold a shard', async () =>
      [...(await probe.leaseHolders(shards)).values()].includes('c') ? true : undefined,
    );
    const stoppedAt = Date.now();
    const node = stack.nodes.get('c')!;
    node.child.kill('SIGTERM');
    // Released on the way out: the others need not wait for the lease TTL (3 s here).
    await waitFor('a and b to hold every shard', async () => {
      const h = await probe.leaseHolders(shards);
      return [...h.values()].every((n) => n === 'a' || n === 'b') ? true : undefined;
    });
    assert.ok(Date.now() - stoppedAt < 3000, `took over in ${Date.now() - stoppedAt} ms`);
    assert.equal(await node.exited, 0, 'clean exit');
    stack.nodes.delete('c');
    await stack.startNode('c');
    await waitFor(
      'c to get a shard back',
      async () => ([...(await probe.leaseHolders(shards)).values()].includes('c') ? true : undefined),
      20_000,
    );
  });

  test('one node killed with SIGKILL while 200 events are put: every event decided exactly once', async () => {
    stack.fleet.clear();
    const events = Array.from({ length: 200 }, (_, i) =>
      hostDown('sms-api', `sms-api-${(i % 6) + 1}`, { data: { host_state: 'UP', host_state_type: 'HARD' } }),
    );
    const shards = [
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      'shardId-000000000003',
    ];
    const before = await waitFor('node c to hold a shard', async () => {
      const h = await probe.leaseHolders(shards);
      return [...h.values()].includes('c') ? h : undefined;
    });
    const shardsOfC = new Set(shards.filter((s) => before.get(s) === 'c'));
    const decisionLines = new Map<string, number>();
    const putShard = new Map<string, string>();
    for (const [i, event] of events.entries()) {
      // Spread over every shard (sensors' keys would be service/host; six hosts may miss a shard).
      putShard.set(event.id, (await probe.put(event, `spread-${i}`)).shard);
      if (i === 60) await stack.killNode('c', 'SIGKILL');
    }
    await waitFor(
      '200 decisions',
      async () => {
        const found = await Promise.all(events.map((e) => probe.redis.exists(probe.keys.decision(e.id))));
        return found.every((x) => x === 1) ? true : undefined;
      },
      60_000,
      250,
    );

    // The survivors hold every shard, and decided the events put on c's shards after it died.
    const holders = await waitFor('the survivors to hold every shard', async () => {
      const h = await probe.leaseHolders(shards);
      return [...h.values()].every((n) => n === 'a' || n === 'b') ? h : undefined;
    });
    assert.ok(
      [...holders.values()].includes('a') && [...holders.values()].includes('b'),
      JSON.stringify([...holders]),
    );

    // Exactly one decision per event: one record, and one decision line across the nodes' logs.
    const { readFile } = await import('node:fs/promises');
    for (const node of ['a', 'b', 'c']) {
      const text = await readFile(`${stack.workDir}/logs/node-${node}.log`, 'utf8');
      for (const line of text.split('\n')) {
        if (!line.includes('"decision"')) continue;
        const entry = JSON.parse(line) as { event?: string };
        if (entry.event !== undefined)
          decisionLines.set(entry.event, (decisionLines.get(entry.event) ?? 0) + 1);
      }
    }
    for (const event of events)
      assert.equal(
        decisionLines.get(event.id),
        1,
        `${event.id} decided ${decisionLines.get(event.id) ?? 0} times`,
      );
    const takenOver = await Promise.all(
      events
        .slice(61)
        .filter((e) => shardsOfC.has(putShard.get(e.id) ?? ''))
        .map((e) => probe.decision(e.id)),
    );
    assert.ok(takenOver.length > 0, 'some events went to the shards of the killed node');
    for (const d of takenOver)
      assert.ok(d?.coordinator.node === 'a' || d?.coordinator.node === 'b', d?.coordinator.node);
    const indexed = await probe.redis.zmscore(probe.keys.decisions, ...events.map((e) => e.id));
    assert.ok(indexed.every((s) => s !== null));
  });

  test('two nodes down: events escalate no_quorum rather than act', async () => {
    await stack.killNode('b', 'SIGKILL');
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-4' });
    const event = hostDown('sms-api', 'sms-api-4');
    await probe.put(event);
    const d = await probe.waitDecision(event.id, 40_000);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'no_quorum');
    assert.deepEqual(d.failures.map((f) => f.node).sort(), ['b', 'c']);
    // Quorum was out of reach as soon as both peers failed: the decision did not wait for the local
    // vote, which is added to the record when it comes.
    const full = await waitFor('the local vote in the record', async () => {
      const r = await probe.decision(event.id);
      return r !== undefined && [...r.votes, ...(r.late_votes ?? [])].length === 1 ? r : undefined;
    });
    const local = [...full.votes, ...(full.late_votes ?? [])][0];
    assert.equal(local?.node, 'a');
    assert.equal(local?.pass, true, 'the one node left sees the host down, and still does not act alone');
  });
});
