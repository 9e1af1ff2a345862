/**
 * The event attempt's state machine, edge by edge, on a real redis-server: the claim (fresh,
 * decided already, held by another node and waited out, held for ever), the lock, the attempt
 * record, the decision; the takeover of a dead node's attempt (its lock taken over or freed, its
 * page answered for); Redis lost at each phase (the step rejects as retryable, nothing is
 * half-taken, the decision parks and is written once Redis answers); and the transitions the table
 * refuses. Time passes through an injected sleep that moves a manual clock, never a real wait.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { DependencyErrorCodes } from '../../../src/common/dependency.js';
import { RedisKeys } from '../../../src/common/keys.js';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import { ControllerErrorCodes } from '../../../src/controller/errors.js';
import {
  CLAIM_POLL_MS,
  EventAttempt,
  releaseLeft,
  TRANSITIONS,
} from '../../../src/controller/event-attempt.js';
import type { AttemptDeps, Phase } from '../../../src/controller/event-attempt.js';
import { connectRedis } from '../../../src/controller/redis-client.js';
import type { DecisionRecord } from '../../../src/records/decision.js';
import { ResourceLocks } from '../../../src/safety/lock.js';
import { startRedis } from '../../../src/sim/redis-server.js';
import type { RedisProcess } from '../../../src/sim/redis-server.js';
import { ManualClock } from '../../helpers/pipeline.js';

const log = pino({ level: 'silent' });
const TTL = 60_000;
const RESOURCE = 'host:checkout/web-1';

let server: RedisProcess;
let redis: Redis;

before(async () => {
  server = await startRedis();
  // Fails fast, as a node's client does: a frozen server times a command out in 150 ms.
  redis = await connectRedis(server.url, { commandTimeoutMs: 150 });
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

/** One region's view of a fresh key prefix: the store, the locks, and an attempt maker per node. */
function region(clock = new ManualClock()) {
  const keys = new RedisKeys(`t:${randomBytes(5).toString('hex')}:`);
  const store = new DecisionStore(redis, keys);
  const locks = new ResourceLocks(redis, keys);
  const waits: number[] = [];
  const deps = (node: string): AttemptDeps => ({
    store,
    locks,
    node,
    claimTtlMs: TTL,
    now: clock.now,
    sleep: async (ms) => {
      waits.push(ms);
      clock.advance(ms);
      await hooks.onWait?.();
    },
  });
  const hooks: { onWait?: () => Promise<void> } = {};
  const attempt = (node: string, eventId = 'e-1'): EventAttempt => new EventAttempt(deps(node), eventId);
  return { keys, store, locks, waits, hooks, attempt, clock };
}

function decision(eventId: string, node: string, extra: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    event_id: eventId,
    decision: 'escalate',
    reason: 'checks_failed',
    decided_at: new Date(Date.parse('2026-12-01T03:00:00Z')).toISOString(),
    coordinator: { node, zone: 'z' },
    votes: [],
    failures: [],
    ...extra,
  } as DecisionRecord;
}

/** Redis frozen (SIGSTOP) while `during` runs, then thawed. */
async function frozen<T>(during: () => Promise<T>): Promise<T> {
  server.kill('SIGSTOP');
  try {
    return await during();
  } finally {
    server.kill('SIGCONT');
  }
}

async function rejectsAsRedisLost(work: Promise<unknown>): Promise<void> {
  await assert.rejects(work, (error: { code?: string; retryable?: boolean }) => {
    assert.equal(error.code, DependencyErrorCodes.DEPENDENCY_DOWN);
    assert.equal(error.retryable, true);
    return true;
  });
}

describe('the event attempt', () => {
  test('the table: every phase is listed, the final ones lead nowhere, parked leads only to an end', () => {
    const phases: Phase[] = [
      'new',
      'claimed',
      'locked',
      'acknowledging',
      'lost',
      'parked',
      'decided',
      'superseded',
      'set_aside',
    ];
    assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...phases].sort());
    for (const final of ['decided', 'superseded', 'set_aside'] as const)
      assert.deepEqual(TRANSITIONS[final], []);
    assert.deepEqual([...TRANSITIONS.parked].sort(), ['decided', 'set_aside', 'superseded']);
    // Nothing goes back to an earlier phase (a lost claim is never regained, a lock never re-taken).
    for (const [from, to] of Object.entries(TRANSITIONS))
      for (const next of to)
        assert.ok(phases.indexOf(next) > phases.indexOf(from as Phase), `${from} → ${next}`);
  });

  test('claimed → locked → acknowledging → decided, then finished: the attempt record goes', async () => {
    const r = region();
    const a = r.attempt('a');
    assert.equal(a.phase, 'new');
    assert.equal(await a.claim(), 'claimed');
    assert.equal(a.claimed, true);
    assert.equal(a.earlier, undefined);
    const taken = await a.takeLock(RESOURCE, TTL);
    assert.ok(taken.acquired);
    assert.equal(a.phase, 'locked');
    assert.deepEqual(a.lock?.toJSON(), { resource: RESOURCE, owner: 'event:e-1@a', token: 1 });
    assert.equal(await a.record(true, TTL), true);
    assert.equal(a.phase, 'acknowledging');
    assert.deepEqual(JSON.parse((await redis.get(r.keys.attempt('e-1'))) ?? 'null'), {
      node: 'a',
      lock: { resource: RESOURCE, owner: 'event:e-1@a', token: 1 },
      acknowledged: true,
    });
    const d = decision('e-1', 'a', {
      decision: 'act',
      lock: { resource: RESOURCE, owner: 'event:e-1@a', token: 1, acquired: true },
    });
    assert.equal(await a.decide(d, 0, log), true);
    assert.equal(a.phase, 'decided');
    await a.finish(d, log);
    assert.equal(await redis.get(r.keys.attempt('e-1')), null, 'answered for');
    assert.deepEqual(
      await r.locks.holder(RESOURCE),
      { owner: 'event:e-1@a', token: 1 },
      "the workflow's now",
    );
    assert.equal((await r.store.get('e-1'))?.decision, 'act');
  });

  test('decided with nothing taken (no attempt record): finish sends no DEL for one', async () => {
    const r = region();
    const a = r.attempt('a');
    assert.equal(await a.claim(), 'claimed');
    const d = decision('e-1', 'a');
    assert.equal(await a.decide(d, 0, log), true);
    const dels = async (): Promise<number> =>
      Number(/cmdstat_del:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const before = await dels();
    await a.finish(d, log);
    assert.equal(await dels(), before, 'no round trip for a record that was never written');
    assert.equal(await redis.exists(r.keys.attempt('e-1')), 0);
  });

  test('claimed → decided without a lock; a second delivery is superseded at its claim', async () => {
    const r = region();
    const a = r.attempt('a');
    await a.claim();
    assert.equal(await a.decide(decision('e-1', 'a'), 0, log), true);
    const again = r.attempt('b');
    assert.equal(await again.claim(), 'superseded');
    assert.equal(again.phase, 'superseded');
    assert.equal(again.claimed, false);
  });

  test("another node's claim is waited out through the injected sleep; taken once that node's claim lapses", async () => {
    const r = region();
    const b = r.attempt('b');
    await b.claim();
    const a = r.attempt('a');
    // b's claim lapses after three looks (b died); the clock moved only by the waits.
    r.hooks.onWait = async () => {
      if (r.waits.length === 3) await redis.del(r.keys.claim('e-1'));
    };
    const start = r.clock.ms;
    assert.equal(await a.claim(), 'claimed');
    assert.deepEqual(r.waits, [CLAIM_POLL_MS, CLAIM_POLL_MS, CLAIM_POLL_MS]);
    assert.equal(r.clock.ms - start, 3 * CLAIM_POLL_MS);
    assert.equal(await redis.get(r.keys.claim('e-1')), 'a');
  });

  test('a claim held for three claim lifetimes: LZ_ERR_CLAIM_HELD, retryable, after exactly that many waits', async () => {
    const r = region();
    await r.attempt('b').claim();
    const a = r.attempt('a');
    await assert.rejects(a.claim(), (error: { code?: string; retryable?: boolean }) => {
      assert.equal(error.code, ControllerErrorCodes.CLAIM_HELD);
      assert.equal(error.retryable, true);
      return true;
    });
    assert.equal(r.waits.length, Math.ceil((3 * TTL) / CLAIM_POLL_MS));
    assert.equal(a.phase, 'new', 'nothing taken');
  });

  test('locked → lost when the claim lapsed before the attempt was recorded; its decision is refused while another holds the claim', async () => {
    const r = region();
    const a = r.attempt('a');
    await a.claim();
    assert.ok((await a.takeLock(RESOURCE, TTL)).acquired);
    // a's claim lapsed and b took the event.
    await redis.set(r.keys.claim('e-1'), 'b');
    assert.equal(await a.record(true, TTL), false);
    assert.equal(a.phase, 'lost');
    assert.equal(await redis.get(r.keys.attempt('e-1')), null, 'nothing recorded');
    assert.equal(await a.decide(decision('e-1', 'a'), 0, log), false);
    assert.equal(a.phase, 'superseded');
    assert.equal(await r.locks.holder(RESOURCE), undefined, 'its lock released');
  });

  test("takeover: a dead node's acknowledged attempt hands its lock over (new token) and its page to the next node", async () => {
    const r = region();
    const a = r.attempt('a');
    await a.claim();
    await a.takeLock(RESOURCE, TTL);
    await a.record(true, TTL);
    // a dies: its claim lapses, its lock and attempt record stay.
    await redis.del(r.keys.claim('e-1'));
    const b = r.attempt('b');
    assert.equal(await b.claim(), 'claimed');
    assert.deepEqual(b.earlier, {
      node: 'a',
      lock: { resource: RESOURCE, owner: 'event:e-1@a', token: 1 },
      acknowledged: true,
    });
    assert.equal(b.earlierAcknowledged, true);
    const taken = await b.takeLock(RESOURCE, TTL);
    assert.ok(taken.acquired);
    assert.equal(taken.lock.token, 2);
    assert.equal(taken.lock.tookOverFrom, 'event:e-1@a');
    assert.equal(await b.record(false, TTL), true);
    assert.equal(b.acknowledged, true, "the earlier attempt's acknowledgement is carried");
    const d = decision('e-1', 'b', {
      decision: 'act',
      lock: { ...taken.lock.toJSON(), acquired: true, took_over_from: 'event:e-1@a' },
    });
    assert.equal(await b.decide(d, 0, log), true);
    await b.finish(d, log);
    assert.deepEqual(await r.locks.holder(RESOURCE), { owner: 'event:e-1@b', token: 2 }, 'carried on');
    assert.equal(await redis.get(r.keys.attempt('e-1')), null);
  });

  test("takeover without acting: the dead node's lock is freed by finish, not left to lapse", async () => {
    const r = region();
    const a = r.attempt('a');
    await a.claim();
    await a.takeLock(RESOURCE, TTL);
    await a.record(false, TTL);
    await redis.del(r.keys.claim('e-1'));
    const b = r.attempt('b');
    await b.claim();
    const d = decision('e-1', 'b');
    assert.equal(await b.decide(d, 0, log), true);
    await b.finish(d, log);
    assert.equal(await r.locks.holder(RESOURCE), undefined);
  });

  for (const phase of ['new', 'claimed', 'locked', 'acknowledging'] as const)
    test(`Redis lost in phase ${phase}: the next step rejects as retryable, the decision parks and is written once Redis answers`, async () => {
      const r = region();
      const a = r.attempt('a');
      if (phase !== 'new') await a.claim();
      if (phase === 'locked' || phase === 'acknowledging') await a.takeLock(RESOURCE, TTL);
      if (phase === 'acknowledging') await a.record(true, TTL);
      assert.equal(a.phase, phase);
      const next = {
        new: () => a.claim(),
        claimed: () => a.takeLock(RESOURCE, TTL),
        locked: () => a.record(true, TTL),
        acknowledging: () => a.decide(decision('e-1', 'a'), 0, log),
      }[phase];
      const left = await frozen(async () => {
        await rejectsAsRedisLost(next());
        assert.equal(a.phase, phase, 'no phase moves on an unanswered step');
        // Nothing acts: the locks are let go (Redis is away: kept to release again later).
        return a.letGo(log);
      });
      assert.equal(a.lock, undefined);
      a.park();
      assert.equal(a.phase, 'parked');
      assert.equal(a.claimed, phase !== 'new', "whether its page is this node's to answer for now");
      // What the unanswered step left: the lock it held, or (the acquire's answer lost) the one it
      // may hold under a token it never heard.
      if (phase === 'claimed')
        assert.deepEqual(left, { held: [], unsure: { resource: RESOURCE, owner: 'event:e-1@a' } });
      else if (phase === 'new') assert.deepEqual(left, { held: [] });
      else assert.deepEqual(left, { held: [{ resource: RESOURCE, owner: 'event:e-1@a', token: 1 }] });
      const d = decision('e-1', 'a', { reason: 'dependency_down' });
      const written = await a.writeParked(d);
      if (phase === 'acknowledging') {
        // The unanswered write was carried out once Redis thawed: the stored decision is this node's
        // first one, and the parked one is refused (the outbox then clears the attempt record).
        assert.equal(written.written, false);
        assert.equal(a.phase, 'superseded');
        assert.equal((await r.store.get('e-1'))?.reason, 'checks_failed');
      } else {
        assert.equal(written.written, true);
        assert.equal(a.phase, 'decided');
        assert.equal((await r.store.get('e-1'))?.reason, 'dependency_down');
      }
      if (phase === 'locked') assert.equal(written.attempt?.acknowledged, true, 'its page is answered for');
      if (phase === 'claimed')
        assert.deepEqual(
          await r.locks.holder(RESOURCE),
          { owner: 'event:e-1@a', token: 1 },
          'the acquire whose answer was lost was carried out',
        );
      await releaseLeft(r.locks, left, log);
      assert.equal(await r.locks.holder(RESOURCE), undefined, 'nothing stays held, whatever its token');
    });

  test('parked → superseded when another node decided the event while Redis was away from this one', async () => {
    const r = region();
    const a = r.attempt('a');
    await frozen(async () => rejectsAsRedisLost(a.claim()));
    a.park();
    // The claim a never heard of was taken once Redis thawed; it lapses, and b takes the event.
    assert.equal(await redis.get(r.keys.claim('e-1')), 'a');
    await redis.del(r.keys.claim('e-1'));
    const b = r.attempt('b');
    await b.claim();
    await b.decide(decision('e-1', 'b'), 0, log);
    const written = await a.writeParked(decision('e-1', 'a', { reason: 'dependency_down' }));
    assert.equal(written.written, false);
    assert.equal(a.phase, 'superseded');
    assert.equal((await r.store.get('e-1'))?.coordinator.node, 'b', "b's decision stands");
  });

  test('set aside from a live phase writes the unprocessable decision; from new it is only marked', async () => {
    const r = region();
    const a = r.attempt('a');
    await a.claim();
    assert.equal(await a.decideSetAside(decision('e-1', 'a', { reason: 'unprocessable' })), true);
    assert.equal(a.phase, 'set_aside');
    const b = r.attempt('b', 'e-2');
    b.setAside();
    assert.equal(b.phase, 'set_aside');
  });

  test('a step the phase does not allow is refused (LZ_ERR_ATTEMPT_STATE, not retryable), and changes nothing', async () => {
    const r = region();
    const a = r.attempt('a');
    const refused = (error: { code?: string; retryable?: boolean }): boolean => {
      assert.equal(error.code, ControllerErrorCodes.ATTEMPT_STATE);
      assert.equal(error.retryable, false);
      return true;
    };
    // Before its claim, nothing may be taken or written.
    await assert.rejects(a.takeLock(RESOURCE, TTL), refused);
    await assert.rejects(a.record(true, TTL), refused);
    await assert.rejects(a.decide(decision('e-1', 'a'), 0, log), refused);
    assert.equal(await r.locks.holder(RESOURCE), undefined);
    assert.equal(await r.store.get('e-1'), undefined);
    await a.claim();
    await a.record(false, TTL);
    // After its attempt is recorded, no lock is taken any more: the record would not name it.
    await assert.rejects(a.takeLock(RESOURCE, TTL), refused);
    await a.decide(decision('e-1', 'a'), 0, log);
    // Decided is final.
    await assert.rejects(a.decide(decision('e-1', 'a'), 0, log), refused);
    assert.throws(() => a.park(), refused);
    assert.throws(() => a.setAside(), refused);
  });
});
