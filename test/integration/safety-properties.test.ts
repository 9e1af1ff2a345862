/**
 * Properties of the safety gates against a real redis-server, checked against pure models:
 * - locks: random interleavings of acquire / renew / release / expire (and races) from three owners
 *   never leave two holders, the stored holder is always the model's, tokens strictly increase;
 * - windows: with random times (out of order too), windows and thresholds, the counts of the rate
 *   limiter and the breaker are exactly those of the model. An entry stamped `t` is in the window at
 *   `now` iff `t > now - window` (an entry exactly one window old has left; entries stamped after
 *   `now` count), and a hit first drops what has left, then adds itself.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/common/keys.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { CircuitBreaker } from '../../src/safety/circuit-breaker.js';
import type { BreakerChange } from '../../src/safety/circuit-breaker.js';
import { ResourceLocks } from '../../src/safety/lock.js';
import { RateLimiter } from '../../src/safety/rate-limiter.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { plain } from '../helpers/locks.js';
import type { PlainLockResult } from '../helpers/locks.js';
import { waitFor } from '../helpers/wait.js';

const OWNERS = ['node-1:wf', 'node-2:wf', 'node-3:wf'] as const;
const RESOURCE = 'host:svc/web-1';
/** Far longer than a run: locks only go away through release and `forceExpire`. */
const LOCK_TTL_MS = 60_000;
const T0 = 1_700_000_000_000;
/**
 * Times and windows are whole seconds, so that entries land exactly on the window's edge often. The
 * keys' TTLs are real time (at least a window, 1 s), longer than a run.
 */
const SECOND = 1_000;

const freshKeys = (): RedisKeys => new RedisKeys(`t:${randomBytes(6).toString('hex')}:`);

type TokenChoice = 'own' | 'latest' | number;
type LockOp =
  | { readonly op: 'acquire'; readonly owner: number }
  | { readonly op: 'renew' | 'release'; readonly owner: number; readonly token: TokenChoice }
  | { readonly op: 'expire' }
  | { readonly op: 'race' };

const ownerArb = fc.integer({ min: 0, max: OWNERS.length - 1 });
const tokenArb: fc.Arbitrary<TokenChoice> = fc.oneof(
  fc.constant<TokenChoice>('own'),
  fc.constant<TokenChoice>('latest'),
  fc.integer({ min: 1, max: 12 }),
);
const lockOpArb: fc.Arbitrary<LockOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('acquire' as const), owner: ownerArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom('renew' as const, 'release' as const),
      owner: ownerArb,
      token: tokenArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'expire' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'race' as const }) },
);

interface Held {
  owner: string;
  token: number;
}

describe('safety gate properties', { timeout: 120_000 }, () => {
  let server: RedisProcess;
  let redis: Redis;
  let others: Redis[] = [];

  before(async () => {
    server = await startRedis();
    redis = await connectRedis(server.url);
    others = await Promise.all([1, 2].map(() => connectRedis(server.url)));
  });
  after(async () => {
    await Promise.all([redis, ...others].map((c) => c?.quit()));
    await server?.stop();
  });

  /** The lock expires now, as its TTL would: a 1 ms TTL, then wait until Redis no longer has it. */
  async function forceExpire(keys: RedisKeys, resource: string): Promise<void> {
    await redis.pexpire(keys.lock(resource), 1);
    await waitFor(
      'the lock to expire',
      async () => ((await redis.get(keys.lock(resource))) === null ? true : undefined),
      2_000,
      1,
    );
  }

  test('locks: never two holders, stored holder is the model’s, tokens strictly increase', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(lockOpArb, { minLength: 1, maxLength: 40 }), async (ops) => {
        const keys = freshKeys();
        // One client per owner, as separate nodes would have.
        const clients = [redis, ...others];
        const locks = clients.map((c) => new ResourceLocks(c, keys));
        let held: Held | undefined;
        let lastToken = 0;
        const known = new Map<string, number>();

        const acquired = (owner: string, r: PlainLockResult): void => {
          if (held === undefined) {
            assert.ok(r.acquired, `${owner} should take a free lock`);
            assert.ok(r.token > lastToken, `token ${r.token} after ${lastToken}`);
            held = { owner, token: r.token };
            lastToken = r.token;
            known.set(owner, r.token);
          } else if (held.owner === owner) {
            assert.deepEqual(r, { acquired: true, token: held.token });
          } else {
            assert.deepEqual(r, { acquired: false, holder: held.owner, token: held.token });
          }
        };

        for (const step of ops) {
          switch (step.op) {
            case 'acquire': {
              const owner = OWNERS[step.owner]!;
              acquired(owner, plain(await locks[step.owner]!.acquire(RESOURCE, owner, LOCK_TTL_MS)));
              break;
            }
            case 'renew':
            case 'release': {
              const owner = OWNERS[step.owner]!;
              const token =
                step.token === 'own'
                  ? (known.get(owner) ?? 1)
                  : step.token === 'latest'
                    ? Math.max(lastToken, 1)
                    : step.token;
              const expected = held?.owner === owner && held.token === token;
              const done =
                step.op === 'renew'
                  ? await locks[step.owner]!.renew(RESOURCE, owner, token, LOCK_TTL_MS)
                  : await locks[step.owner]!.release(RESOURCE, owner, token);
              assert.equal(
                done,
                expected,
                `${step.op} by ${owner} with token ${token}, held ${JSON.stringify(held)}`,
              );
              if (step.op === 'release' && done) held = undefined;
              break;
            }
            case 'expire':
              await forceExpire(keys, RESOURCE);
              held = undefined;
              break;
            case 'race': {
              // All three at once from their own connections: one outcome, whichever wins.
              const results = await Promise.all(
                locks.map(async (l, i) => plain(await l.acquire(RESOURCE, OWNERS[i]!, LOCK_TTL_MS))),
              );
              const winners = results.flatMap((r, i) => (r.acquired ? [i] : []));
              assert.equal(winners.length, 1, JSON.stringify(results));
              const winner = winners[0]!;
              // The winner first: the others then see it as the holder.
              acquired(OWNERS[winner]!, results[winner]!);
              results.forEach((r, i) => {
                if (i !== winner) acquired(OWNERS[i]!, r);
              });
              break;
            }
          }
          assert.deepEqual(await locks[0]!.holder(RESOURCE), held, `after ${JSON.stringify(step)}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('rate window: the count is the model’s for any times, windows and thresholds', async () => {
    const hitArb = fc.record({
      id: fc.constantFrom('e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'),
      at: fc.integer({ min: 0, max: 20 }),
      probe: fc.integer({ min: 0, max: 20 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 6 }),
        fc.array(hitArb, { minLength: 1, maxLength: 30 }),
        async (windowS, threshold, hits) => {
          const rate = new RateLimiter(redis, freshKeys());
          const windowMs = windowS * SECOND;
          const model = new Map<string, number>();
          const inWindow = (now: number): number =>
            [...model.values()].filter((t) => t > now - windowMs).length;
          for (const { id, at, probe } of hits) {
            const now = T0 + at * SECOND;
            for (const [member, t] of model) if (t <= now - windowMs) model.delete(member);
            if (!model.has(id)) model.set(id, now);
            const verdict = await rate.hit('svc', id, now, windowMs, threshold);
            assert.equal(verdict.count, model.size);
            assert.equal(verdict.allowed, model.size <= threshold);
            const probeAt = T0 + probe * SECOND;
            assert.equal(await rate.count('svc', probeAt, windowMs), inWindow(probeAt));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('breaker window: open, services, changes and history are the model’s', async () => {
    const stepArb = fc.record({
      service: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', ''),
      at: fc.integer({ min: 0, max: 20 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(stepArb, { minLength: 1, maxLength: 30 }),
        async (windowS, threshold, steps) => {
          const breaker = new CircuitBreaker(redis, freshKeys());
          const windowMs = windowS * SECOND;
          const model = new Map<string, number>();
          let open = false;
          const history: BreakerChange[] = [];
          for (const { service, at } of steps) {
            const now = T0 + at * SECOND;
            for (const [member, t] of model) if (t <= now - windowMs) model.delete(member);
            // '' stands for a look (state) rather than a hit; a hit keeps the latest time.
            if (service !== '') model.set(service, Math.max(model.get(service) ?? now, now));
            const verdict =
              service === ''
                ? await breaker.state(now, windowMs, threshold)
                : await breaker.hit(service, now, windowMs, threshold);
            const nowOpen = model.size > threshold;
            assert.equal(verdict.open, nowOpen);
            assert.equal(verdict.services, model.size);
            if (nowOpen === open) {
              assert.equal(verdict.changed, undefined);
              assert.equal(verdict.tripping, undefined);
            } else {
              // Redis orders the window by time, then by name.
              const services = [...model]
                .sort(([m1, t1], [m2, t2]) => t1 - t2 || (m1 < m2 ? -1 : 1))
                .map(([m]) => m);
              assert.equal(verdict.changed, nowOpen ? 'opened' : 'closed');
              assert.deepEqual(verdict.tripping, services);
              history.unshift({ state: nowOpen ? 'open' : 'closed', at: now, services, count: model.size });
              open = nowOpen;
            }
          }
          assert.deepEqual(await breaker.history(), history.slice(0, 100));
        },
      ),
      { numRuns: 200 },
    );
  });
});
