/**
 * The safety gates against a real redis-server: rate limit, circuit breaker, locks and dedup, their
 * windows (with controlled times), races between separate connections, and failing fast (then
 * recovering) when Redis dies.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { LzError } from '../../src/common/errors.js';
import { RedisKeys } from '../../src/common/keys.js';
import { DecisionStore } from '../../src/controller/decision-store.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { CircuitBreaker } from '../../src/safety/circuit-breaker.js';
import { Deduplicator } from '../../src/safety/dedup.js';
import { SafetyErrorCodes } from '../../src/safety/errors.js';
import { ResourceLocks } from '../../src/safety/lock.js';
import { GateWindows } from '../../src/safety/gate-windows.js';
import { RateLimiter } from '../../src/safety/rate-limiter.js';
import { RecentRemediations } from '../../src/safety/remediations.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { plain, plainAcquire } from '../helpers/locks.js';
import { waitFor } from '../helpers/wait.js';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

const freshKeys = (): RedisKeys => new RedisKeys(`t:${randomBytes(6).toString('hex')}:`);

describe('safety gates', { timeout: 60_000 }, () => {
  let server: RedisProcess;
  let redis: Redis;
  let keys: RedisKeys;

  before(async () => {
    server = await startRedis();
    redis = await connectRedis(server.url);
  });
  after(async () => {
    await redis?.quit();
    await server?.stop();
  });
  beforeEach(() => {
    keys = freshKeys();
  });

  describe('rate limiter', () => {
    test('threshold 5: events 1..5 allowed, the 6th not; allowed again once the window slides', async () => {
      const rate = new RateLimiter(redis, keys);
      const verdicts = [];
      for (let i = 1; i <= 6; i++) verdicts.push(await rate.hit('checkout', `e${i}`, T0 + i, MINUTE, 5));
      assert.deepEqual(
        verdicts.map((v) => [v.count, v.allowed]),
        [
          [1, true],
          [2, true],
          [3, true],
          [4, true],
          [5, true],
          [6, false],
        ],
      );
      assert.deepEqual(verdicts[5], { allowed: false, count: 6, threshold: 5, windowMs: MINUTE });
      assert.equal(await rate.count('checkout', T0 + 6, MINUTE), 6);

      // e1 (at T0+1) is in the window while T0+1 > now - window, and leaves it exactly at T0+1+window.
      assert.equal(await rate.count('checkout', T0 + 1 + MINUTE - 1, MINUTE), 6);
      assert.equal(await rate.count('checkout', T0 + 1 + MINUTE, MINUTE), 5);
      const later = await rate.hit('checkout', 'e7', T0 + 2 + MINUTE, MINUTE, 5);
      assert.deepEqual([later.count, later.allowed], [5, true]);
      const afterAll = await rate.hit('checkout', 'e8', T0 + 10 * MINUTE, MINUTE, 5);
      assert.deepEqual([afterAll.count, afterAll.allowed], [1, true]);
    });

    test('a redelivered event is not counted twice; services are counted apart', async () => {
      const rate = new RateLimiter(redis, keys);
      for (let i = 0; i < 3; i++) assert.equal((await rate.hit('a', 'same', T0 + i, MINUTE, 1)).count, 1);
      assert.equal((await rate.hit('a', 'other', T0 + 3, MINUTE, 1)).allowed, false);
      // A redelivery of the denied event is still denied, and still one entry.
      assert.deepEqual(await rate.hit('a', 'other', T0 + 4, MINUTE, 1), {
        allowed: false,
        count: 2,
        threshold: 1,
        windowMs: MINUTE,
      });
      assert.equal((await rate.hit('b', 'same', T0 + 5, MINUTE, 1)).count, 1);
    });

    test('the window key expires by itself after the window', async () => {
      const rate = new RateLimiter(redis, keys);
      await rate.hit('quiet', 'e1', T0, 2_000, 5);
      const ttl = await redis.pttl(keys.rateWindow('quiet'));
      assert.ok(ttl > 0 && ttl <= 2_000, `ttl ${ttl}`);
    });

    test('invalid arguments are rejected before anything is written', async () => {
      const rate = new RateLimiter(redis, keys);
      await assert.rejects(rate.hit('s', 'e', T0, 0, 5), { code: SafetyErrorCodes.INVALID_ARGUMENT });
      await assert.rejects(rate.hit('s', 'e', Number.NaN, MINUTE, 5), {
        code: SafetyErrorCodes.INVALID_ARGUMENT,
      });
      await assert.rejects(rate.hit('', 'e', T0, MINUTE, 5), { code: SafetyErrorCodes.INVALID_ARGUMENT });
      assert.equal(await redis.exists(keys.rateWindow('s')), 0);
    });
  });

  describe('circuit breaker', () => {
    test('opens over the threshold with the tripping services recorded, closes once the window slides', async () => {
      const breaker = new CircuitBreaker(redis, keys);
      const a = await breaker.hit('a', T0, MINUTE, 2);
      assert.deepEqual(a, { open: false, services: 1, threshold: 2, windowMs: MINUTE });
      await breaker.hit('b', T0 + 1, MINUTE, 2);
      // The same service again is one service, with its latest failure time.
      assert.deepEqual(await breaker.hit('a', T0 + 2, MINUTE, 2), {
        open: false,
        services: 2,
        threshold: 2,
        windowMs: MINUTE,
      });
      const opened = await breaker.hit('c', T0 + 3, MINUTE, 2);
      assert.deepEqual(opened, {
        open: true,
        services: 3,
        threshold: 2,
        windowMs: MINUTE,
        changed: 'opened',
        tripping: ['b', 'a', 'c'],
        openedAt: T0 + 3,
      });
      // Still open: no second change, and the same opening.
      assert.deepEqual(await breaker.hit('d', T0 + 4, MINUTE, 2), {
        open: true,
        services: 4,
        threshold: 2,
        windowMs: MINUTE,
        openedAt: T0 + 3,
      });
      assert.equal((await breaker.state(T0 + 5, MINUTE, 2)).changed, undefined);
      assert.deepEqual(await breaker.history(), [
        { state: 'open', at: T0 + 3, services: ['b', 'a', 'c'], count: 3 },
      ]);

      // b (T0+1) and a (T0+2) leave the window: c and d remain, 2 is not over 2.
      const closed = await breaker.state(T0 + 2 + MINUTE, MINUTE, 2);
      assert.deepEqual(closed, {
        open: false,
        services: 2,
        threshold: 2,
        windowMs: MINUTE,
        changed: 'closed',
        tripping: ['c', 'd'],
      });
      assert.deepEqual(await breaker.state(T0 + 3 + MINUTE, MINUTE, 2), {
        open: false,
        services: 1,
        threshold: 2,
        windowMs: MINUTE,
      });
      assert.deepEqual(await breaker.history(), [
        { state: 'closed', at: T0 + 2 + MINUTE, services: ['c', 'd'], count: 2 },
        { state: 'open', at: T0 + 3, services: ['b', 'a', 'c'], count: 3 },
      ]);
      assert.equal((await breaker.history(1)).length, 1);
    });

    test('a hit after a quiet spell closes and records it with an empty window', async () => {
      const breaker = new CircuitBreaker(redis, keys);
      assert.equal((await breaker.hit('a', T0, 1_000, 0)).changed, 'opened');
      const closed = await breaker.state(T0 + 5_000, 1_000, 0);
      assert.deepEqual([closed.changed, closed.tripping], ['closed', []]);
      assert.deepEqual((await breaker.history())[0], {
        state: 'closed',
        at: T0 + 5_000,
        services: [],
        count: 0,
      });
      // Opened again: another opening, named by its own time.
      const again = await breaker.hit('b', T0 + 6_000, 1_000, 0);
      assert.deepEqual([again.changed, again.openedAt], ['opened', T0 + 6_000]);
      assert.equal((await breaker.state(T0 + 6_500, 1_000, 0)).openedAt, T0 + 6_000);
    });

    test('a hit carrying an earlier time does not move a service’s latest failure back', async () => {
      const breaker = new CircuitBreaker(redis, keys);
      await breaker.hit('a', T0 + 1_000, MINUTE, 5);
      await breaker.hit('a', T0, MINUTE, 5);
      assert.equal(await redis.zscore(keys.breakerWindow, 'a'), String(T0 + 1_000));
    });
  });

  describe('resource locks', () => {
    test('exclusive, idempotent for its owner, renewed and released only by owner and token', async () => {
      const locks = new ResourceLocks(redis, keys);
      const acquire = plainAcquire(locks);
      const res = 'host:checkout/web-1';
      const first = await acquire(res, 'node-1:wf-a', MINUTE);
      assert.deepEqual(first, { acquired: true, token: 1 });
      assert.deepEqual(await acquire(res, 'node-2:wf-b', MINUTE), {
        acquired: false,
        holder: 'node-1:wf-a',
        token: 1,
      });
      // A retried acquire by the holder gets its own token back.
      assert.deepEqual(await acquire(res, 'node-1:wf-a', MINUTE), { acquired: true, token: 1 });
      assert.deepEqual(await locks.holder(res), { owner: 'node-1:wf-a', token: 1 });

      assert.equal(await locks.renew(res, 'node-2:wf-b', 1, MINUTE), false);
      assert.equal(await locks.renew(res, 'node-1:wf-a', 2, MINUTE), false);
      await redis.pexpire(keys.lock(res), 5_000);
      assert.equal(await locks.renew(res, 'node-1:wf-a', 1, MINUTE), true);
      assert.ok((await redis.pttl(keys.lock(res))) > 5_000);

      assert.equal(await locks.release(res, 'node-2:wf-b', 1), false);
      assert.equal(await locks.release(res, 'node-1:wf-a', 2), false);
      assert.equal(await locks.release(res, 'node-1:wf-a', 1), true);
      assert.equal(await locks.holder(res), undefined);
      assert.equal(await locks.release(res, 'node-1:wf-a', 1), false);

      // Tokens keep increasing, whoever acquires.
      assert.deepEqual(await acquire(res, 'node-2:wf-b', MINUTE), { acquired: true, token: 2 });
      await locks.release(res, 'node-2:wf-b', 2);
      assert.deepEqual(await acquire(res, 'node-1:wf-a', MINUTE), { acquired: true, token: 3 });
      // Another resource has its own tokens.
      assert.deepEqual(await acquire('service:checkout', 'node-1:wf-a', MINUTE), {
        acquired: true,
        token: 1,
      });
    });

    test('a held lock renews and releases itself, fenced by its token, as a lock written down does', async () => {
      const locks = new ResourceLocks(redis, keys);
      const res = 'host:checkout/web-held';
      const taken = await locks.acquire(res, 'event:e-h@a', MINUTE);
      assert.ok(taken.acquired);
      const held = taken.lock;
      assert.deepEqual(JSON.parse(JSON.stringify(held)), { resource: res, owner: 'event:e-h@a', token: 1 });
      await redis.pexpire(keys.lock(res), 5_000);
      assert.equal(await held.renew(MINUTE), true);
      assert.ok((await redis.pttl(keys.lock(res))) > 5_000);
      // The same lock as a run or a decision records it: the same holding.
      assert.equal(await locks.held(held.toJSON()).renew(MINUTE), true);
      assert.equal(await locks.held({ ...held.toJSON(), token: 2 }).release(), false, 'another token');
      assert.equal(await held.release(), true);
      assert.equal(await held.release(), false, 'released once');
      assert.equal(await held.renew(MINUTE), false, 'a released lock is not renewed');
      const next = await locks.acquire(res, 'event:e-h@b', MINUTE);
      assert.ok(next.acquired && next.lock.token === 2);
      assert.equal(await held.release(), false, "the old holding does not release the new one's lock");
      assert.deepEqual(await locks.holder(res), { owner: 'event:e-h@b', token: 2 });
      // By owner, whatever the token (an acquire whose reply was lost): only that owner's.
      assert.equal(await locks.releaseOwned(res, 'event:e-h@a'), false, 'not a');
      assert.equal(await locks.releaseOwned(res, 'event:e-h'), false, 'not a prefix of the owner');
      assert.equal(await locks.releaseOwned(res, 'event:e-h@b'), true);
      assert.equal(await locks.holder(res), undefined);
      assert.equal(await locks.releaseOwned(res, 'event:e-h@b'), false, 'released once');
    });

    test('an earlier attempt at the same work is taken over with a new token, only with the claim and no result', async () => {
      const locks = new ResourceLocks(redis, keys);
      const acquire = plainAcquire(locks);
      const res = 'host:checkout/web-9';
      const claim = keys.claim('e-1');
      const result = keys.decision('e-1');
      const takeOver = { from: 'event:e-1@a', claim, holder: 'b', unless: result };
      const earlier = await acquire(res, 'event:e-1@a', MINUTE);
      assert.ok(earlier.acquired);
      const blocked = { acquired: false, holder: 'event:e-1@a', token: earlier.token };
      // Without the claim (a's may still be live), or with the work done, it stays a's.
      assert.deepEqual(await acquire(res, 'event:e-1@b', MINUTE, { takeOver }), blocked);
      await redis.set(claim, 'a');
      assert.deepEqual(await acquire(res, 'event:e-1@b', MINUTE, { takeOver }), blocked);
      await redis.set(claim, 'b');
      await redis.set(result, '{}');
      assert.deepEqual(await acquire(res, 'event:e-1@b', MINUTE, { takeOver }), blocked);
      await redis.del(result);
      // Another owner than the earlier attempt's is never taken over.
      assert.deepEqual(
        await acquire(res, 'event:e-1@b', MINUTE, { takeOver: { ...takeOver, from: 'event:e-1@c' } }),
        blocked,
      );

      const taken = await acquire(res, 'event:e-1@b', MINUTE, { takeOver });
      assert.deepEqual(taken, { acquired: true, token: earlier.token + 1, tookOverFrom: 'event:e-1@a' });
      assert.equal(
        await locks.renew(res, 'event:e-1@a', earlier.token, MINUTE),
        false,
        'the earlier attempt renews nothing',
      );
      assert.equal(await locks.release(res, 'event:e-1@a', earlier.token), false, 'nor releases it');
      assert.deepEqual(await locks.holder(res), { owner: 'event:e-1@b', token: taken.token });
      // Its own lock again: the same token, nothing taken over.
      assert.deepEqual(await acquire(res, 'event:e-1@b', MINUTE, { takeOver }), {
        acquired: true,
        token: taken.token,
      });
    });

    test('an expired lock is free for another owner, with a higher token; the old one renews nothing', async () => {
      const locks = new ResourceLocks(redis, keys);
      const acquire = plainAcquire(locks);
      const res = 'service:payments';
      const old = await acquire(res, 'a', 50);
      assert.ok(old.acquired);
      await waitFor(
        'the lock to expire',
        async () => ((await locks.holder(res)) === undefined ? true : undefined),
        5_000,
        10,
      );
      const next = await acquire(res, 'b', MINUTE);
      assert.ok(next.acquired && next.token > old.token);
      assert.equal(await locks.renew(res, 'a', old.token, MINUTE), false);
      assert.equal(await locks.release(res, 'a', old.token), false);
      assert.deepEqual(await locks.holder(res), { owner: 'b', token: next.token });
    });
  });

  describe('dedup', () => {
    test('the first event owns the window; others fold into it; a redelivery of the first is first', async () => {
      const dedup = new Deduplicator(redis, keys);
      assert.deepEqual(await dedup.fold('svc', 'web-1', 'host_down', 'e1', MINUTE), { first: true });
      assert.deepEqual(await dedup.fold('svc', 'web-1', 'host_down', 'e2', MINUTE), {
        first: false,
        firstEventId: 'e1',
      });
      assert.deepEqual(await dedup.fold('svc', 'web-1', 'host_down', 'e1', MINUTE), { first: true });
      assert.deepEqual(await dedup.fold('svc', 'web-1', 'disk_full', 'e3', MINUTE), { first: true });
      assert.deepEqual(await dedup.fold('svc', 'web-2', 'host_down', 'e4', MINUTE), { first: true });
    });

    test('after the window, the next event is first again', async () => {
      const dedup = new Deduplicator(redis, keys);
      assert.deepEqual(await dedup.fold('svc', 'web-1', 'host_down', 'e1', 50), { first: true });
      assert.equal((await dedup.fold('svc', 'web-1', 'host_down', 'e2', 50)).first, false);
      await waitFor(
        'the dedup window to end',
        async () => ((await dedup.fold('svc', 'web-1', 'host_down', 'e3', 50)).first ? true : undefined),
        5_000,
        10,
      );
      assert.deepEqual(await dedup.fold('svc', 'web-1', 'host_down', 'e4', 50), {
        first: false,
        firstEventId: 'e3',
      });
    });
  });

  describe('gate windows (fold, rate, breaker and remediation record in one script)', () => {
    test('the same verdicts, windows and history as the gates one by one, over a random sequence', async () => {
      // Two regions side by side: one asked gate by gate, the other through the one script.
      const apart = freshKeys();
      const together = freshKeys();
      const dedup = new Deduplicator(redis, apart);
      const rate = new RateLimiter(redis, apart);
      const breaker = new CircuitBreaker(redis, apart);
      const windows = new GateWindows(redis, together);
      let seed = 7;
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      let now = T0;
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) {
        now += random(4_000);
        // Now and then a redelivery of an earlier event.
        const id = ids.length > 0 && random(10) === 0 ? (ids[random(ids.length)] ?? 'x') : `e${i}`;
        ids.push(id);
        const service = `svc-${random(14)}`;
        const host = `${service}-web-${random(3)}`;
        const type = random(2) === 0 ? 'host_down' : 'disk_full';
        const f = await dedup.fold(service, host, type, id, 10_000);
        const one = await windows.count({
          service,
          eventId: id,
          resource: host,
          type,
          nowMs: now,
          dedupWindowMs: 10_000,
          rateWindowMs: MINUTE,
          rateThreshold: 4,
          breakerWindowMs: 30_000,
          breakerThreshold: 6,
        });
        assert.deepEqual(one.fold, f, `event ${i}: the fold`);
        if (!f.first || !('rate' in one)) continue;
        const r = await rate.hit(service, id, now, MINUTE, 4);
        const b = await breaker.hit(service, now, 30_000, 6);
        assert.deepEqual(one.rate, r, `event ${i}: the rate verdict`);
        assert.deepEqual(one.breaker, b, `event ${i}: the breaker verdict`);
        assert.equal(one.remediated, undefined);
      }
      assert.deepEqual(
        await new CircuitBreaker(redis, together).history(1000),
        await breaker.history(1000),
        'the same openings and closings',
      );
      assert.ok((await breaker.history(1000)).length >= 2, 'the sequence opened and closed the breaker');
    });

    test('counted with the claim: the same windows as the script alone, and nothing counted unless the claim is won', async () => {
      const apart = freshKeys();
      const together = freshKeys();
      const windows = new GateWindows(redis, apart);
      const store = new DecisionStore(redis, together);
      const of = (eventId: string, nowMs: number, service = 'svc-1') => ({
        service,
        eventId,
        // A host of its own per event: no fold (its window is real time), only the counts.
        resource: `${service}-web-${eventId}`,
        type: 'host_down',
        nowMs,
        dedupWindowMs: 1,
        rateWindowMs: MINUTE,
        rateThreshold: 3,
        breakerWindowMs: 30_000,
        breakerThreshold: 2,
      });
      for (let i = 0; i < 12; i++) {
        const w = of(`e${i}`, T0 + i * 1_000, `svc-${i % 4}`);
        const claim = await store.claim(w.eventId, 'a', 10_000, w);
        assert.equal(claim.status, 'claimed');
        assert.deepEqual(claim.counted, await windows.count(w), `event ${i}`);
      }
      const rateOf = (service: string) => redis.zcard(together.rateWindow(service));
      const before = await rateOf('svc-9');
      // Another node holds the claim: it counts the event, not this one.
      assert.equal((await store.claim('held', 'b', 10_000)).status, 'claimed');
      const held = await store.claim('held', 'a', 10_000, of('held', T0, 'svc-9'));
      assert.deepEqual(held, { status: 'held', holder: 'b' });
      // Decided already: a redelivery counts nowhere.
      await redis.set(together.decision('done'), '{}');
      const decided = await store.claim('done', 'a', 10_000, of('done', T0, 'svc-9'));
      assert.deepEqual(decided, { status: 'decided' });
      assert.equal(await rateOf('svc-9'), before, 'nothing counted for a claim not won');
      // An earlier attempt's record comes back with the counts.
      await redis.set(together.attempt('taken'), JSON.stringify({ node: 'c' }));
      const taken = await store.claim('taken', 'a', 10_000, of('taken', T0, 'svc-9'));
      assert.equal(taken.status, 'claimed');
      assert.deepEqual(taken.status === 'claimed' ? taken.earlier : undefined, { node: 'c' });
      assert.ok(
        taken.counted !== undefined && 'rate' in taken.counted && taken.counted.rate.count === before + 1,
      );
    });

    test('the host’s remediation record comes with the counts; none is read without a host', async () => {
      const windows = new GateWindows(redis, keys);
      const recent = new RecentRemediations(redis, keys);
      const remediation = {
        event_id: 'e0',
        run_id: 'run-e0',
        workflow: 'replace_host',
        started_at: new Date(T0).toISOString(),
      };
      await recent.record('svc', 'web-1', remediation, MINUTE);
      const ask = (eventId: string, resource: string | undefined) =>
        windows.count({
          service: 'svc',
          eventId,
          resource,
          type: 'host_down',
          nowMs: T0,
          dedupWindowMs: MINUTE,
          rateWindowMs: MINUTE,
          rateThreshold: 10,
          breakerWindowMs: MINUTE,
          breakerThreshold: 10,
        });
      const found = await ask('e1', 'web-1');
      assert.ok('rate' in found);
      assert.deepEqual(found.remediated, remediation);
      // Folded: nothing counted, nothing read.
      const folded = await ask('e2', 'web-1');
      assert.deepEqual(folded, { fold: { first: false, firstEventId: 'e1' } });
      assert.equal(await new RateLimiter(redis, keys).count('svc', T0, MINUTE), 1);
      await assert.rejects(
        ask('e3', undefined),
        (e: LzError) => e.code === SafetyErrorCodes.INVALID_ARGUMENT,
      );
      const other = await ask('e4', 'web-2');
      assert.ok('rate' in other);
      assert.equal(other.remediated, undefined);
    });
  });

  describe('races between connections', () => {
    let clients: Redis[] = [];
    before(async () => {
      clients = await Promise.all([1, 2, 3].map(() => connectRedis(server.url)));
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.quit()));
    });

    test('3 connections racing acquire, 200 rounds: exactly one winner each round', async () => {
      const locks = clients.map((c) => new ResourceLocks(c, keys));
      const res = 'host:svc/h1';
      let lastToken = 0;
      for (let round = 0; round < 200; round++) {
        const results = await Promise.all(
          locks.map(async (l, i) => plain(await l.acquire(res, `owner-${i}`, MINUTE))),
        );
        const winners = results.flatMap((r, i) => (r.acquired ? [{ i, token: r.token }] : []));
        assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
        const [winner] = winners;
        assert.ok(winner !== undefined && winner.token > lastToken);
        lastToken = winner.token;
        for (const r of results) {
          if (!r.acquired)
            assert.deepEqual(r, { acquired: false, holder: `owner-${winner.i}`, token: winner.token });
        }
        assert.equal(await locks[winner.i]?.release(res, `owner-${winner.i}`, winner.token), true);
      }
      assert.equal(lastToken, 200);
    });

    test('1000 concurrent hits from 3 connections, threshold 5: exactly 5 allowed', async () => {
      const limiters = clients.map((c) => new RateLimiter(c, keys));
      const verdicts = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => limiters[i % 3]!.hit('burst', `e${i}`, T0, MINUTE, 5)),
      );
      assert.equal(verdicts.filter((v) => v.allowed).length, 5);
      // Each hit saw the count right after its own: every count from 1 to 1000 exactly once.
      assert.deepEqual(
        verdicts.map((v) => v.count).sort((x, y) => x - y),
        Array.from({ length: 1000 }, (_, i) => i + 1),
      );
    });
  });
});

describe('safety gates when Redis dies', { timeout: 60_000 }, () => {
  let server: RedisProcess;
  let redis: Redis;

  before(async () => {
    server = await startRedis();
    redis = await connectRedis(server.url);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  test('a frozen Redis: acquire times out, yet was carried out; retrying it returns the same token', async () => {
    const keys = freshKeys();
    const locks = new ResourceLocks(redis, keys);
    const acquire = plainAcquire(locks);
    server.kill('SIGSTOP');
    try {
      const started = performance.now();
      await assert.rejects(acquire('service:frozen', 'o', MINUTE), {
        code: SafetyErrorCodes.DEPENDENCY_DOWN,
      });
      // At the client's command timeout (500 ms), not ioredis' default of waiting for ever.
      assert.ok(performance.now() - started < 1_000);
    } finally {
      server.kill('SIGCONT');
    }
    // The script reached Redis before the freeze answered: the lock is ours, which is why a timed
    // out acquire is "unknown" and not "not acquired".
    const held = await waitFor(
      'the frozen acquire to be carried out',
      () => locks.holder('service:frozen'),
      5_000,
      10,
    );
    assert.deepEqual(held, { owner: 'o', token: 1 });
    assert.deepEqual(await acquire('service:frozen', 'o', MINUTE), { acquired: true, token: 1 });
  });

  test('every gate method rejects fast with dependency_down, and works again after a restart', async () => {
    const keys = freshKeys();
    const rate = new RateLimiter(redis, keys);
    const breaker = new CircuitBreaker(redis, keys);
    const locks = new ResourceLocks(redis, keys);
    const acquire = plainAcquire(locks);
    const dedup = new Deduplicator(redis, keys);
    const calls: [string, () => Promise<unknown>][] = [
      ['rate.hit', () => rate.hit('s', 'e1', T0, MINUTE, 5)],
      ['rate.count', () => rate.count('s', T0, MINUTE)],
      ['breaker.hit', () => breaker.hit('s', T0, MINUTE, 5)],
      ['breaker.state', () => breaker.state(T0, MINUTE, 5)],
      ['breaker.history', () => breaker.history()],
      ['locks.acquire', () => acquire('service:s', 'o', MINUTE)],
      ['locks.renew', () => locks.renew('service:s', 'o', 1, MINUTE)],
      ['locks.release', () => locks.release('service:s', 'o', 1)],
      ['locks.holder', () => locks.holder('service:s')],
      ['dedup.fold', () => dedup.fold('s', 'h', 't', 'e1', MINUTE)],
    ];
    for (const [, call] of calls) await call();

    server.kill('SIGKILL');
    for (const [name, call] of calls) {
      const started = performance.now();
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof LzError, `${name}: ${String(error)}`);
        assert.equal(error.code, SafetyErrorCodes.DEPENDENCY_DOWN);
        assert.equal(error.retryable, true);
        return true;
      });
      const elapsed = performance.now() - started;
      // Fails at once, not after ioredis' offline queue (73 s by default): a loaded machine's few
      // seconds are not what this catches.
      assert.ok(elapsed < 5_000, `${name} took ${elapsed.toFixed(0)} ms to fail`);
    }

    await server.restart();
    await waitFor(
      'the client to reconnect',
      async () => ((await rate.count('s', T0, MINUTE)) === 0 ? true : undefined),
      10_000,
      50,
    );
    for (const [name, call] of calls) {
      await assert.doesNotReject(call(), name);
    }
  });
});
