/**
 * The cost of the safety gates per event, against a private redis-server: every Redis call an
 * acting event makes on its way through the pipeline (the claim, the gates' windows in one script,
 * the lock, the decision write, the lock's release), sequential and 64 events at once, beside
 * `redis-benchmark` on the same server in the same run. And the lock alone beside its peer,
 * redlock (one Redis, as a region runs): acquire and release of the same resources, sequential and
 * 64 at once, medians of 3. Run: npm run bench:gates. `--smoke`: a small size for CI (the figures
 * mean little).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Redlock from 'redlock';
import { RedisKeys } from '../../src/common/keys.js';
import { table } from '../../src/cli/format.js';
import { DecisionStore } from '../../src/controller/decision-store.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { GateWindows } from '../../src/safety/gate-windows.js';
import { ResourceLocks, lockResource } from '../../src/safety/lock.js';
import { startRedis } from '../../src/sim/redis-server.js';

const SMOKE = process.argv.includes('--smoke');
const EVENTS = SMOKE ? 200 : 5000;
const WARM_UP = SMOKE ? 20 : 200;
const RUNS = SMOKE ? 1 : 3;
const BENCHMARK_REQUESTS = SMOKE ? 2000 : 50_000;
/** Round trips of an acting event: claim, gate windows, lock, decide, release. */
const ROUND_TRIPS = 5;

const run = promisify(execFile);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Seconds for `events` calls of `one`, `concurrency` at a time. */
async function timed(
  concurrency: number,
  events: number,
  one: (i: number) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < events) await one(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const redisProcess = await startRedis();
  const redis = await connectRedis(redisProcess.url, { commandTimeoutMs: 2000 });
  try {
    const rows = [['mode', 'events', 'events/s', 'Redis calls/s', 'µs/event']];
    for (const concurrency of [1, 64]) {
      const keys = new RedisKeys(`bench:${concurrency}:`);
      const store = new DecisionStore(redis, keys);
      const windows = new GateWindows(redis, keys);
      const locks = new ResourceLocks(redis, keys);
      const one = async (i: number): Promise<void> => {
        const id = `ev-${i}`;
        const service = `svc-${i % 500}`;
        const host = `h-${i}`;
        const now = Date.now();
        await store.claim(id, 'a', 10_000);
        await windows.count({
          service,
          eventId: id,
          resource: host,
          type: 'HostDown',
          nowMs: now,
          dedupWindowMs: 300_000,
          rateWindowMs: 600_000,
          rateThreshold: 1_000_000,
          breakerWindowMs: 600_000,
          breakerThreshold: 1_000_000,
        });
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
      const seconds = await timed(concurrency, EVENTS, one);
      rows.push([
        concurrency === 1 ? 'sequential' : `${concurrency} at once`,
        String(EVENTS),
        (EVENTS / seconds).toFixed(0),
        ((EVENTS * ROUND_TRIPS) / seconds).toFixed(0),
        ((seconds * 1e6) / EVENTS).toFixed(0),
      ]);
      process.stderr.write(`${rows[rows.length - 1]?.join('  ') ?? ''}\n`);
    }

    // The lock beside redlock: acquire + release of one resource per event, the same resources.
    const lockRows = [
      ['lock, acquire + release', 'events', 'ours µs/event (median)', 'redlock µs/event', 'ours ÷ redlock'],
    ];
    // redlock 4 calls eval with its arguments in an array, which ioredis flattens.
    const redlock = new Redlock([redis as unknown as Redlock.CompatibleRedisClient], { retryCount: 0 });
    redlock.on('clientError', () => undefined);
    for (const concurrency of [1, 64]) {
      const ours: number[] = [];
      const peer: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const keys = new RedisKeys(`bench-lock:${concurrency}:${r}:`);
        const locks = new ResourceLocks(redis, keys);
        ours.push(
          await timed(concurrency, EVENTS, async (i) => {
            const taken = await locks.acquire(lockResource('host', 'svc', `h-${i}`), `event:${i}`, 60_000);
            if (!taken.acquired) throw new Error(`lock h-${i} not acquired`);
            await taken.lock.release();
          }),
        );
        peer.push(
          await timed(concurrency, EVENTS, async (i) => {
            const lock = await redlock.lock(`bench-redlock:${concurrency}:${r}:h-${i}`, 60_000);
            await lock.unlock();
          }),
        );
      }
      const a = (median(ours) * 1e6) / EVENTS;
      const b = (median(peer) * 1e6) / EVENTS;
      lockRows.push([
        concurrency === 1 ? 'sequential' : `${concurrency} at once`,
        String(EVENTS),
        a.toFixed(0),
        b.toFixed(0),
        (a / b).toFixed(2),
      ]);
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
    process.stdout.write(table(lockRows) + '\n\n');
    process.stdout.write(`redis-benchmark -c 1:  ${await bench(1)}\n`);
    process.stdout.write(`redis-benchmark -c 50: ${await bench(50)}\n`);
    process.stdout.write(
      `\n${ROUND_TRIPS} Redis round trips per acting event (an escalated event stops earlier).\n` +
        'Our lock does more than redlock: a fencing token (INCR), a take-over of an earlier attempt, and the ' +
        "wait for replicas' acknowledgement when replica_ack is set (none here).\n",
    );
  } finally {
    redis.disconnect();
    await redisProcess.stop();
  }
}

await main();
