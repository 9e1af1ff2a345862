/**
 * The one Redis server that holds a key: the client itself for one server, the primary of the key's
 * hash slot in a Redis Cluster. A command without keys (SCAN, WAIT) goes to a random node of a
 * cluster; sent to this one instead, SCAN sees the region's keys (all in one slot, see keys.ts) and
 * WAIT counts the replicas of the server that took the write, on the connection that sent it.
 */
import { createRequire } from 'node:module';
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import type { RedisClient } from './redis.js';

/**
 * The Redis Cluster hash slot (0–16383) of a key: CRC16 of its hash tag, or of the whole key.
 * `cluster-key-slot` is the function ioredis itself routes by; it is CommonJS without types.
 */
export const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/** `undefined`: the cluster does not know the slot's primary now (it is failing over, or not ready). */
export function serverOf(client: RedisClient, key: string): Redis | undefined {
  if (!(client instanceof Cluster)) return client;
  const primary = client.slots[calculateSlot(key)]?.[0];
  if (primary === undefined) return undefined;
  return client.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === primary);
}
