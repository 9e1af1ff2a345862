/**
 * Shard leases, node membership and checkpoints in Redis. Any node may read any shard; a shard is
 * read by the node that holds its lease, renewed at a third of the TTL (so that one missed renewal
 * does not lose it). When a node dies, its leases expire and the others take its shards over.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../common/redis.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, refusedAs, replies, runScript, script } from '../common/lua.js';

const RENEW = script('common', 'lease-renew', ['lease'], replies.yesNo);
const RELEASE = script('common', 'lease-release', ['lease'], replies.yesNo);
const CHECKPOINT = script(
  'ingest',
  'checkpoint',
  ['lease', 'checkpoint'],
  replies.codes({ 1: 'moved', 2: 'already', 0: 'not_owner' } as const),
);

export type CheckpointResult = 'moved' | 'already' | 'not_owner';

export class ShardLeases {
  /** `node:token`: a restarted node with the same id is a different owner. */
  readonly owner: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    readonly nodeId: string,
    readonly ttlMs: number,
  ) {
    this.owner = `${nodeId}:${randomBytes(6).toString('hex')}`;
    defineScripts(redis, [RENEW, RELEASE, CHECKPOINT]);
  }

  /** Records this node as alive and returns the live nodes (heartbeat within the TTL), sorted. */
  async heartbeat(now = Date.now()): Promise<string[]> {
    const [, , live] = ((await this.redis
      .multi()
      .zadd(this.keys.members, now, this.nodeId)
      .zremrangebyscore(this.keys.members, '-inf', now - 10 * this.ttlMs)
      .zrangebyscore(this.keys.members, now - this.ttlMs, '+inf')
      .exec()) ?? []) as [unknown, unknown, [Error | null, string[]]];
    if (live[0] !== null) throw live[0];
    return [...live[1]].sort();
  }

  /** Leaves the membership at once (clean shutdown), so that the others rebalance without waiting. */
  async leave(): Promise<void> {
    await this.redis.zrem(this.keys.members, this.nodeId);
  }

  /** The node holding each shard's lease (`undefined`: free). */
  async holders(shards: readonly string[]): Promise<Map<string, string | undefined>> {
    if (shards.length === 0) return new Map();
    const values = await this.redis.mget(...shards.map((s) => this.keys.lease(s)));
    return new Map(shards.map((s, i) => [s, values[i]?.split(':')[0] ?? undefined]));
  }

  async acquire(shard: string): Promise<boolean> {
    return (await this.redis.set(this.keys.lease(shard), this.owner, 'PX', this.ttlMs, 'NX')) === 'OK';
  }

  /** `false`: the lease is no longer ours (it expired, another node took it). */
  async renew(shard: string): Promise<boolean> {
    // A reply the script never gives: not renewed (the reader stops), never "still ours".
    return refusedAs(
      runScript(this.redis, RENEW, { lease: this.keys.lease(shard) }, [this.owner, this.ttlMs]),
      false,
    );
  }

  async release(shard: string): Promise<boolean> {
    return runScript(this.redis, RELEASE, { lease: this.keys.lease(shard) }, [this.owner]);
  }

  async checkpoint(shard: string, sequence: string): Promise<CheckpointResult> {
    // A reply the script never gives: as a lost lease (the reader stops), never as a checkpoint.
    return refusedAs(
      runScript(
        this.redis,
        CHECKPOINT,
        { lease: this.keys.lease(shard), checkpoint: this.keys.checkpoint(shard) },
        [this.owner, sequence],
      ),
      'not_owner' as const,
    );
  }

  async checkpointOf(shard: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.checkpoint(shard))) ?? undefined;
  }

  async markDone(shard: string): Promise<void> {
    await this.redis.sadd(this.keys.shardsDone, shard);
  }

  async doneShards(): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.keys.shardsDone));
  }
}
