/**
 * The ioredis client of a node, set to fail fast, for each `redis.mode`: one server (`standalone`),
 * the primary that Sentinel names (`sentinel`: ioredis asks the sentinels again after a failover),
 * or a Redis Cluster (`cluster`). With ioredis' defaults a command waits in the offline queue while
 * Redis is gone (about 73 s, forever when the server is frozen); a safety gate must instead answer
 * "no" at once. A command that timed out may still have been carried out, so callers treat a
 * timeout as "unknown", never as "not done".
 */
import { Cluster, Redis } from 'ioredis';
import { redisFailure } from '../common/dependency.js';
import { LzError } from '../common/errors.js';
import type { RedisClient } from '../common/redis.js';
import { secretValue } from '../common/secret.js';
import type { CompiledRedis } from '../config/types.js';
import { CONTROLLER_ERRORS } from './errors.js';

export interface RedisClientOptions {
  /** @defaultValue 500 */
  readonly commandTimeoutMs?: number;
  readonly connectionName?: string;
  /** The password (sentinel and cluster modes, or one the URL does not carry). */
  readonly password?: string;
}

/** Reconnects every 100 ms more, at most every second: Redis is back within a second of returning. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 1000);

/** A client that refuses commands while it is not connected, instead of holding them. */
const noQueue = { lazyConnect: true, enableOfflineQueue: false } as const;

/** Each connection's own settings (the cluster's connections to its nodes too). */
function failFast(options: RedisClientOptions) {
  return {
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 500,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    ...(options.password === undefined ? {} : { password: options.password }),
  };
}

/** One Redis server by URL (`redis://`, `rediss://` with TLS; user, password and db in the URL). */
export async function connectRedis(url: string, options: RedisClientOptions = {}): Promise<Redis> {
  return opened(new Redis(url, { ...failFast(options), ...noQueue, retryStrategy }));
}

/** The region's Redis, as its `redis` section says; the password from `password_env` when named. */
export async function connectRegionRedis(
  config: CompiledRedis,
  options: RedisClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<RedisClient> {
  let password = options.password;
  if (config.passwordEnv !== undefined) {
    password = env[config.passwordEnv];
    if (password === undefined || password === '')
      throw new LzError(
        CONTROLLER_ERRORS.codes.NODE_START,
        `redis.password_env names ${config.passwordEnv}, which is not set (or empty)`,
      );
  }
  const withPassword = { ...options, ...(password === undefined ? {} : { password }) };
  switch (config.mode) {
    case 'standalone':
      return connectRedis(secretValue(config.url, 'redis.url', env), withPassword);
    case 'sentinel':
      return opened(
        new Redis({
          ...failFast(withPassword),
          ...noQueue,
          sentinels: config.sentinels.map((s) => ({ host: s.host, port: s.port })),
          name: config.master,
          role: 'master',
          retryStrategy,
          sentinelRetryStrategy: retryStrategy,
          // Sentinels announce a new primary (`+switch-master`): reconnect then, not at the next error.
          failoverDetector: true,
          sentinelCommandTimeout: options.commandTimeoutMs ?? 500,
          ...(password === undefined ? {} : { sentinelPassword: password }),
        }),
      );
    case 'cluster':
      return opened(
        new Cluster(
          config.nodes.map((n) => ({ host: n.host, port: n.port })),
          {
            lazyConnect: true,
            enableOfflineQueue: false,
            enableReadyCheck: true,
            clusterRetryStrategy: retryStrategy,
            // Every key of a region is in one slot, so reads go to its primary like writes.
            scaleReads: 'master',
            redisOptions: failFast(withPassword),
          },
        ),
      );
  }
}

async function opened<C extends RedisClient>(redis: C): Promise<C> {
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
