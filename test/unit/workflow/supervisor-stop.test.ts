/**
 * A clean stop leaves no timer of the supervisor behind: a grace timer still pending after the runs
 * in hand have ended kept the node's process up for the whole grace (5 s after every drain, seen
 * as `docker stop` taking 5 s).
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import pino from 'pino';
import { RedisKeys } from '../../../src/common/keys.js';
import { RedisRunStore } from '../../../src/workflow/redis-store.js';
import { RunSupervisor } from '../../../src/workflow/supervisor.js';
import { privateRedis } from '../../helpers/redis.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('RunSupervisor.stop', () => {
  const ctx = privateRedis();

  test('with no run in hand, resolves and leaves no timer pending', async () => {
    const keys = new RedisKeys(`sup-${process.pid}`);
    const supervisor = new RunSupervisor({
      redis: ctx.redis,
      keys,
      store: new RedisRunStore(ctx.redis, keys),
      nodeId: 'a',
      leaseTtlMs: 30_000,
      workflows: new Map(),
      execute: () => Promise.reject(new Error('no step runs in this test')),
      log: pino({ level: 'silent' }),
      renewLock: () => Promise.resolve(true),
      onEnd: () => Promise.resolve(),
    });
    const before = timers();
    supervisor.start();
    await supervisor.stop(20_000);
    assert.equal(
      timers(),
      before,
      `timers pending after stop: ${process.getActiveResourcesInfo().join(', ')}`,
    );
  });
});
