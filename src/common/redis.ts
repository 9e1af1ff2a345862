/**
 * The Redis client every module is given: one server (standalone, or the primary that Sentinel
 * names) or a Redis Cluster. Both run the same commands and scripts; what differs (where a
 * command without keys goes) is handled in `redis-node.ts`.
 */
import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;
