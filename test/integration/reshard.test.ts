/**
 * After a reshard, a closed shard is read to its end before its children: events about one host
 * keep their order across the reshard. The nodes start only once both the parents' and the
 * children's records are in the stream, so that nothing but the consumer's ordering decides.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import {
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

describe('resharding', { timeout: 120_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    stack = await LocalStack.start({
      shards: 2,
      nodes: [],
      region: { kinesis: { lease_ttl: '3s' }, thresholds: { vote_timeout: '3s' } },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  test('parents are drained before their children; per-key order holds across the reshard', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    // Many records in the parents, few in the children: a consumer that read the children at once
    // would decide those long before it got through the parents.
    const before = keys.flatMap((k) =>
      Array.from({ length: 40 }, () => ({ key: k, event: hostDown('not-subscribed', k) })),
    );
    for (const { key, event } of before) await probe.put(event, key);

    await stack.kinesis.send(
      new UpdateShardCountCommand({
        StreamName: stack.region.stream,
        TargetShardCount: 4,
        ScalingType: 'UNIFORM_SCALING',
      }),
    );
    await waitFor('the stream to be ACTIVE again', async () => {
      const out = await stack.kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: stack.region.stream }),
      );
      return out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE' ? true : undefined;
    });
    const { Shards = [] } = await stack.kinesis.send(
      new ListShardsCommand({ StreamName: stack.region.stream }),
    );
    const parents = Shards.filter((s) =>
      Shards.some((c) => c.ParentShardId === s.ShardId || c.AdjacentParentShardId === s.ShardId),
    ).map((s) => s.ShardId ?? '');
    assert.ok(parents.length >= 1, 'the reshard closed shards');

    const afterward = keys.flatMap((k) =>
      [0, 1].map(() => ({ key: k, event: hostDown('not-subscribed', k) })),
    );
    const childShards = new Set<string>();
    for (const { key, event } of afterward) childShards.add((await probe.put(event, key)).shard);
    assert.ok(
      [...childShards].every((s) => !parents.includes(s)),
      'new records go to the children',
    );

    await Promise.all(['a', 'b', 'c'].map((id) => stack.startNode(id)));
    const decided = new Map<string, number>();
    for (const { event } of [...before, ...afterward])
      decided.set(event.id, Date.parse((await probe.waitDecision(event.id, 60_000)).decided_at));

    for (const key of keys) {
      const lastBefore = Math.max(
        ...before.filter((e) => e.key === key).map((e) => decided.get(e.event.id) ?? Infinity),
      );
      const firstAfter = Math.min(
        ...afterward.filter((e) => e.key === key).map((e) => decided.get(e.event.id) ?? -Infinity),
      );
      assert.ok(
        lastBefore <= firstAfter,
        `${key}: an event put after the reshard was decided before one put before it`,
      );
    }
    const done = new Set(await probe.redis.smembers(probe.keys.shardsDone));
    for (const parent of parents) assert.ok(done.has(parent), `${parent} marked drained`);

    // And from the nodes' own account: no child was read before its parents were drained.
    const { readFile } = await import('node:fs/promises');
    const lines = (
      await Promise.all(['a', 'b', 'c'].map((n) => readFile(`${stack.workDir}/logs/node-${n}.log`, 'utf8')))
    )
      .flatMap((t) => t.split('\n'))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { time: number; msg: string; shard?: string });
    const drainedAt = (shard: string) =>
      lines.find((l) => l.shard === shard && l.msg.startsWith('closed shard drained'))?.time ?? Infinity;
    for (const child of childShards) {
      const entry = Shards.find((sh) => sh.ShardId === child);
      const its = [entry?.ParentShardId, entry?.AdjacentParentShardId].filter(
        (p): p is string => p !== undefined,
      );
      const parentsDrained = Math.max(...its.map(drainedAt));
      const startedAt = Math.min(
        ...lines.filter((l) => l.shard === child && l.msg === 'reading shard').map((l) => l.time),
      );
      assert.ok(
        its.length > 0 && startedAt >= parentsDrained,
        `${child} was read before its parents ${its.join(', ')} were drained`,
      );
    }
  });
});
