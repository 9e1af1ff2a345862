/**
 * Writes that must survive a failover. Redis replicates asynchronously: a primary that dies right
 * after a write may take it along, and the replica that takes over has never seen it. For a lock
 * or its fencing token that means two holders, or a token handed out twice. So after such a write
 * the writer asks the primary to wait until `replicas` replicas have everything this connection
 * wrote (`WAIT`, on the server that holds the key); fewer within the timeout, and the write counts
 * as not safely made: the caller fails safe as when Redis is down (`LZ_ERR_DEPENDENCY_DOWN`).
 *
 * WAIT makes a write survive the failover Sentinel or Cluster performs (they promote the replica
 * with the most data); it is not a consensus protocol, and a replica that acknowledged may still
 * lose the write if it, too, dies (see Redis' `WAIT` documentation).
 */
import { redisFailure, viaRedis } from './dependency.js';
import { COMMON_ERRORS, LzError } from './errors.js';
import type { RedisClient } from './redis.js';
import { serverOf } from './redis-node.js';

export interface ReplicaAck {
  /** 0: nothing to wait for (one server with no replica). */
  readonly replicas: number;
  readonly timeoutMs: number;
}

export const NO_REPLICAS: ReplicaAck = { replicas: 0, timeoutMs: 1 };

/** Resolves once `ack.replicas` replicas hold this connection's writes so far, including `key`'s. */
export async function replicated(
  redis: RedisClient,
  key: string,
  ack: ReplicaAck,
  what: string,
): Promise<void> {
  if (ack.replicas <= 0) return;
  const server = serverOf(redis, key);
  if (server === undefined)
    throw redisFailure(`${what}: WAIT`, new Error("the cluster knows no primary for the key's slot"));
  const acknowledged = await viaRedis(`${what}: WAIT`, () => server.wait(ack.replicas, ack.timeoutMs));
  if (acknowledged < ack.replicas)
    throw new LzError(
      COMMON_ERRORS.codes.DEPENDENCY_DOWN,
      `${what}: ${acknowledged} of the ${ack.replicas} replica(s) needed acknowledged it within ` +
        `${ack.timeoutMs} ms; a failover could forget it, so it does not count as made`,
      { retryable: true },
    );
}
