/**
 * The ioredis client of a node, set to fail fast. With ioredis' defaults a command waits in the
 * offline queue while Redis is gone (about 73 s, forever when the server is frozen); a safety gate
 * must instead answer "no" at once. A command that timed out may still have been carried out, so
 * callers treat a timeout as "unknown", never as "not done".
 */
import { Redis } from 'ioredis';
import { redisFailure } from '../common/dependency.js';

export interface RedisClientOptions {
  /** @defaultValue 500 */
  readonly commandTimeoutMs?: number;
  readonly connectionName?: string;
}

export async function connectRedis(url: string, options: RedisClientOptions = {}): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 500,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  });
  // Connection errors are reported by the commands that fail; without a listener ioredis prints them.
  redis.on('error', () => undefined);
  // Not connected: the client would go on reconnecting (and hold the process open) for nobody.
  await redis.connect().catch((error: unknown) => {
    redis.disconnect();
    // LZ_ERR_DEPENDENCY_DOWN, retryable: Redis may only not be up yet.
    throw redisFailure('redis connect', error);
  });
  return redis;
}
