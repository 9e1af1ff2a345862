/** A private redis-server for one suite, and a client to it. */
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';

/**
 * Call inside a `describe`: starts a redis-server before the suite and stops it after. Read `redis`
 * in the tests (not before the suite's `before` has run).
 */
export function privateRedis(): { readonly redis: Redis } {
  let server: RedisProcess | undefined;
  let client: Redis | undefined;
  before(async () => {
    server = await startRedis();
    client = new Redis(server.url);
  });
  after(async () => {
    client?.disconnect();
    await server?.stop();
  });
  return {
    get redis(): Redis {
      if (client === undefined) throw new Error('the suite has not started its redis-server yet');
      return client;
    },
  };
}
