/**
 * The cost of the safety gates per event, against a private redis-server: every Redis call an
 * acting event makes on its way (event-id claim and decision check, dedup fold, rate-limit and
 * breaker windows, lock acquire, decision write, lock release), sequential and 64 events at once,
 * beside `redis-benchmark` on the same server in the same run. Run: npm run bench:gates.
 * `--smoke`: a small size for CI (the figures mean little).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisKeys } from '../../src/common/keys.js';
import { table } from '../../src/cli/format.js';
import { DecisionStore } from '../../src/controller/decision-store.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { CircuitBreaker } from '../../src/safety/circuit-breaker.js';
import { Deduplicator } from '../../src/safety/dedup.js';
import { ResourceLocks, lockResource } from '../../src/safety/lock.js';
import { RateLimiter } from '../../src/safety/rate-limiter.js';
import { startRedis } from '../../src/sim/redis-server.js';

const SMOKE = process.argv.includes('--smoke');
const EVENTS = SMOKE ? 200 : 5000;
const WARM_UP = SMOKE ? 20 : 200;
const BENCHMARK_REQUESTS = SMOKE ? 2000 : 50_000;
/** Round trips of an acting event: GET decision, SET NX claim, fold, rate, breaker, lock, decide, release. */
const ROUND_TRIPS = 8;

const run = promisify(execFile);

async function main(): Promise<void> {
  const redisProcess = await startRedis();
  const redis = await connectRedis(redisProcess.url, { commandTimeoutMs: 2000 });
  try {
    const rows = [['mode', 'events', 'events/s', 'Redis calls/s', 'µs/event']];
    for (const concurrency of [1, 64]) {
      const keys = new RedisKeys(`bench:${concurrency}:`);
      const store = new DecisionStore(redis, keys);
      const dedup = new Deduplicator(redis, keys);
      const rate = new RateLimiter(redis, keys);
      const breaker = new CircuitBreaker(redis, keys);
      const locks = new ResourceLocks(redis, keys);
      const one = async (i: number): Promise<void> => {
        const id = `ev-${i}`;
        const service = `svc-${i % 500}`;
        const host = `h-${i}`;
        const now = Date.now();
        await store.get(id);
        await store.claim(id, 'a', 10_000);
        await dedup.fold(service, host, 'HostDown', id, 300_000);
        await Promise.all([
          rate.hit(service, id, now, 600_000, 1_000_000),
          breaker.hit(service, now, 600_000, 1_000_000),
        ]);
        const resource = lockResource('host', service, host);
        const lock = await locks.acquire(resource, `event:${id}`, 60_000);
        await store.write({
          event_id: id,
          decided_at: new Date(now).toISOString(),
          decision: 'act',
          coordinator: { node: 'a', zone: 'local-1a' },
        } as DecisionRecord);
        if (lock.acquired) await lock.lock.release();
      };
      for (let i = 0; i < WARM_UP; i++) await one(-1 - i); // warm-up
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < EVENTS) await one(next++);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      rows.push([
        concurrency === 1 ? 'sequential' : `${concurrency} at once`,
        String(EVENTS),
        (EVENTS / seconds).toFixed(0),
        ((EVENTS * ROUND_TRIPS) / seconds).toFixed(0),
        ((seconds * 1e6) / EVENTS).toFixed(0),
      ]);
      process.stderr.write(`${rows[rows.length - 1]?.join('  ') ?? ''}\n`);
    }
    const bench = async (clients: number): Promise<string> => {
      const { stdout } = await run('redis-benchmark', [
        '-h',
        '127.0.0.1',
        '-p',
        String(redisProcess.port),
        '-q',
        '-n',
        String(BENCHMARK_REQUESTS),
        '-c',
        String(clients),
        '-t',
        'set,get',
      ]);
      return stdout
        .replace(/\r/g, '\n')
        .split('\n')
        .filter((l) => /requests per second/.test(l))
        .map((l) => l.trim())
        .join('; ');
    };
    process.stdout.write('\n' + table(rows) + '\n\n');
    process.stdout.write(`redis-benchmark -c 1:  ${await bench(1)}\n`);
    process.stdout.write(`redis-benchmark -c 50: ${await bench(50)}\n`);
    process.stdout.write(
      `\n${ROUND_TRIPS} Redis round trips per acting event (an escalated event stops earlier).\n`,
    );
  } finally {
    redis.disconnect();
    await redisProcess.stop();
  }
}

await main();
