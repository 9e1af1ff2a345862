/**
 * The region's PagerDuty request budget against a real redis-server, two budgets (two nodes) on one
 * bucket. Time is a manual clock: the bucket refills only when the clock moves, so what is granted
 * follows from the arithmetic, not from the machine's speed.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PagerErrorCodes } from '../../../src/pager/errors.js';
import { SharedRequestBudget, bucketFor, type PagePriority } from '../../../src/pager/request-budget.js';
import { privateRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

/** Polls until `condition` holds (a waiter is granted once the pump has asked Redis). */
function until(what: string, condition: () => boolean | Promise<boolean>): Promise<true> {
  return waitFor(what, async () => ((await condition()) ? true : undefined), 20_000, 5);
}

describe('SharedRequestBudget', () => {
  const ctx = privateRedis();
  let n = 0;
  const T0 = 1_800_000_000_000;

  function pair(perMinute = 960): {
    a: SharedRequestBudget;
    b: SharedRequestBudget;
    clock: { now: number };
    key: string;
  } {
    const key = `budget-test-${n++}`;
    const clock = { now: T0 };
    const make = (): SharedRequestBudget =>
      new SharedRequestBudget({ redis: ctx.redis, key, perMinute, now: () => clock.now });
    return { a: make(), b: make(), clock, key };
  }

  const never = new AbortController().signal;

  test('the bucket never grants more than 95% of the minute in any minute, whatever the split between nodes', () => {
    for (const perMinute of [60, 100, 960, 6_000]) {
      const { capacity, ratePerMinute, floors } = bucketFor(perMinute);
      assert.ok(capacity + ratePerMinute <= perMinute * 0.95 + 1e-9, `${perMinute}`);
      assert.ok(ratePerMinute > 0);
      // Room for the largest plan of each priority (an acknowledgement with its user lookup: 4).
      assert.ok(capacity - floors.acknowledge >= 4 && capacity - floors.escalate >= 3, `${perMinute}`);
      assert.ok(capacity - floors.note >= 2, `${perMinute}`);
    }
  });

  test('two nodes share one bucket: a full bucket is spent once, then it refills at its rate', async () => {
    const { a, b, clock } = pair(960);
    const { capacity, ratePerMinute } = bucketFor(960);
    let granted = 0;
    const deadline = T0 + 50_000;
    // Acknowledgements may take the bucket's last token.
    for (let i = 0; i < capacity; i++) {
      await (i % 2 === 0 ? a : b).take(1, 'acknowledge', deadline, never);
      granted += 1;
    }
    assert.equal(granted, capacity);
    assert.equal(await a.level(), 0);
    // Nothing left: the next waits for the refill, which only the clock brings.
    let done = false;
    const next = b.take(1, 'acknowledge', deadline, never).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(done, false);
    clock.now += Math.ceil(60_000 / ratePerMinute);
    await until('the refilled token to be granted', () => done);
    await next;
  });

  test('priorities: a short budget serves acknowledgements, then escalations, then notes', async () => {
    const { a, b, clock } = pair(960);
    const { capacity, floors } = bucketFor(960);
    // Drain to just above the escalation floor: escalations can take 1, notes none.
    await a.take(capacity - floors.escalate - 1, 'acknowledge', T0 + 50_000, never);
    const order: string[] = [];
    const wait = (budget: SharedRequestBudget, priority: PagePriority, tag: string): Promise<void> =>
      budget.take(1, priority, T0 + 50_000, never).then(() => {
        order.push(tag);
      });
    const note = wait(b, 'note', 'note');
    const escalation = wait(b, 'escalate', 'escalate');
    await until('the escalation above its floor', () => order.length === 1);
    assert.deepEqual(order, ['escalate']);
    await escalation;
    // Now at the escalation floor: an acknowledgement gets through, the note still waits.
    await a.take(floors.escalate, 'acknowledge', T0 + 50_000, never);
    assert.equal(await a.level(), 0);
    const ack = wait(a, 'acknowledge', 'ack');
    const escalation2 = wait(b, 'escalate', 'escalate2');
    // Refill up to one token at a time: each goes to the acknowledgement first.
    const { ratePerMinute } = bucketFor(960);
    const oneToken = Math.ceil(60_000 / ratePerMinute);
    clock.now += oneToken;
    await until('the acknowledgement', () => order.includes('ack'));
    assert.deepEqual(order, ['escalate', 'ack']);
    // The escalation needs the level above its floor again, the note above its own.
    clock.now += oneToken * (floors.escalate + 2);
    await until('the second escalation', () => order.includes('escalate2'));
    assert.equal(order.includes('note'), false);
    clock.now += oneToken * (floors.note + 2);
    await until('the note', () => order.includes('note'));
    await Promise.all([note, ack, escalation2]);
    assert.deepEqual(order, ['escalate', 'ack', 'escalate2', 'note']);
  });

  test('a call wanting three tokens is not starved by another node taking them one by one', async () => {
    const { a, b, clock } = pair(960);
    const { capacity, floors, ratePerMinute } = bucketFor(960);
    // Down to the escalation floor: from here on every escalation waits for the refill.
    await a.take(capacity - floors.escalate, 'acknowledge', T0 + 50_000, never);
    let big = false;
    const three = a.take(3, 'escalate', T0 + 50_000, never).then(() => (big = true));
    let small = 0;
    const ones = Array.from({ length: 40 }, () =>
      b.take(1, 'escalate', T0 + 50_000, never).then(() => (small += 1)),
    );
    const oneToken = Math.ceil(60_000 / ratePerMinute);
    // One token at a time: the node wanting one is always ready first, yet the three are collected.
    for (let i = 0; i < 12 && !big; i++) {
      const before = small + (big ? 1 : 0);
      clock.now += oneToken;
      await until(
        'the token to be taken',
        async () => small + (big ? 1 : 0) > before || (await a.level()) > floors.escalate,
      );
    }
    await until('the call wanting three', () => big);
    await three;
    clock.now += oneToken * 60;
    await Promise.all(ones);
  });

  test('within escalations, the newest page first; within acknowledgements, the nearest deadline first', async () => {
    const { a, b, clock } = pair(960);
    const { capacity, ratePerMinute, floors } = bucketFor(960);
    await a.take(capacity - floors.escalate, 'acknowledge', T0 + 50_000, never);
    const order: string[] = [];
    const escalations = [10_000, 40_000, 25_000].map((d) =>
      b.take(1, 'escalate', T0 + d, never).then(() => order.push(`escalate +${d / 1000}s`)),
    );
    await a.take(floors.escalate, 'acknowledge', T0 + 50_000, never);
    const acks = [30_000, 5_000].map((d) =>
      a.take(1, 'acknowledge', T0 + d, never).then(() => order.push(`ack +${d / 1000}s`)),
    );
    const oneToken = Math.ceil(60_000 / ratePerMinute);
    for (let i = 0; i < floors.escalate + 10 && order.length < 5; i++) {
      clock.now += oneToken;
      await new Promise((r) => setTimeout(r, 15));
    }
    await until('every call', () => order.length === 5);
    await Promise.all([...escalations, ...acks]);
    assert.deepEqual(order, ['ack +5s', 'ack +30s', 'escalate +40s', 'escalate +25s', 'escalate +10s']);
  });

  test('a call that cannot have its tokens before its deadline is refused, having waited, and sent nothing', async () => {
    const { a, clock } = pair(960);
    await a.take(bucketFor(960).capacity, 'acknowledge', T0 + 50_000, never);
    const refused = a.take(1, 'escalate', T0 + 1_000, never);
    clock.now = T0 + 950;
    await assert.rejects(refused, (error: { code?: string; message?: string }) => {
      assert.equal(error.code, PagerErrorCodes.OVER_BUDGET);
      assert.match(error.message ?? '', /PagerDuty's own timer escalates the page/);
      return true;
    });
  });

  test('a 429 pauses every node until PagerDuty’s reset, and the bucket starts empty after it', async () => {
    const { a, b, clock } = pair(960);
    a.pause(T0 + 3_000);
    await until('the pause to reach Redis', async () => (await b.level()) === 0);
    let granted = false;
    const waiting = b.take(1, 'acknowledge', T0 + 50_000, never).then(() => (granted = true));
    clock.now = T0 + 2_999;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(granted, false, 'nothing is granted before the reset');
    clock.now = T0 + 3_000 + Math.ceil(60_000 / bucketFor(960).ratePerMinute);
    await until('the grant after the reset', () => granted);
    await waiting;
  });

  test('tokens given back are there for the next call; the signal withdraws a waiting call', async () => {
    const { a, b } = pair(960);
    const { capacity } = bucketFor(960);
    await a.take(capacity, 'acknowledge', T0 + 50_000, never);
    a.give(2);
    await until('the tokens given back', async () => (await b.level()) === 2);
    await b.take(2, 'acknowledge', T0 + 50_000, never);
    const controller = new AbortController();
    const withdrawn = b.take(1, 'acknowledge', T0 + 50_000, controller.signal);
    controller.abort(new Error('shutting down'));
    await assert.rejects(withdrawn, /shutting down/);
  });

  test('Redis unreachable: nothing is granted, the call is refused with the reason', async () => {
    const { Redis } = await import('ioredis');
    const dead = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    const budget = new SharedRequestBudget({ redis: dead, key: 'x', now: () => T0 });
    await assert.rejects(budget.take(1, 'acknowledge', T0 + 50_000, never), (error: { code?: string }) => {
      assert.equal(error.code, PagerErrorCodes.OVER_BUDGET);
      return true;
    });
    dead.disconnect();
  });
  test("a following call's tokens come with the plan only while there is room above its floor", async () => {
    const { a, clock } = pair(960);
    const { capacity, floors } = bucketFor(960);
    const deadline = T0 + 50_000;
    const note = { count: 1, priority: 'note' } as const;
    // A full bucket: the escalation's two and the note's one, in one take.
    assert.equal(await a.take(2, 'escalate', deadline, never, note), 1);
    assert.equal(await a.level(), capacity - 3);
    // Down to the note's floor: the escalation still gets its two, the note none (it asks later,
    // and waits behind the escalations as before).
    const above = capacity - 3 - floors.note;
    for (let i = 0; i < above; i++) await a.take(1, 'acknowledge', deadline, never);
    assert.equal(await a.level(), floors.note);
    assert.equal(await a.take(2, 'escalate', deadline, never, note), 0);
    assert.equal(await a.level(), floors.note - 2);
    // Without a following call nothing more is taken, and the answer is 0.
    assert.equal(await a.take(1, 'acknowledge', deadline, never), 0);
    assert.equal(await a.level(), floors.note - 3);
    // A plan that waits for the refill: the following call's token comes with it.
    while ((await a.level()) > floors.escalate) await a.take(1, 'acknowledge', deadline, never);
    let got: number | undefined;
    void a.take(2, 'escalate', T0 + 200_000, never, note).then((n) => (got = n));
    clock.now += 10_000;
    await until('the plan granted', () => got !== undefined);
    assert.equal(got, 1, '10 s later the bucket has refilled: the note gets its token with the plan');
  });
  /** The budget script's runs on the suite's server so far. */
  async function scriptRuns(): Promise<number> {
    const stats = await ctx.redis.info('commandstats');
    return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  }

  test("calls asked in the same turn are served in one step: one round trip for all, in the queue's order", async () => {
    const { a, clock } = pair(960);
    const { capacity, floors, ratePerMinute } = bucketFor(960);
    const deadline = (s: number): number => T0 + s * 1000;
    await a.level();
    const runs = await scriptRuns();
    // Asked in one turn of the event loop (a batch's escalations, decided together): one step.
    const order: string[] = [];
    const takes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) =>
      a.take(1, 'escalate', deadline(s), never).then(() => order.push(`+${s}s`)),
    );
    await Promise.all(takes);
    assert.equal((await scriptRuns()) - runs, 1, 'one script run for ten calls');
    // Escalations newest first.
    assert.deepEqual(order, ['+10s', '+9s', '+8s', '+7s', '+6s', '+5s', '+4s', '+3s', '+2s', '+1s']);
    assert.equal(await a.level(), capacity - 10);

    // Short: three tokens above the escalation floor for three calls of two (queued behind an
    // acknowledgement that takes one). The newest gets its two in the step; the next collects the
    // last one and keeps its turn; the oldest gets nothing yet.
    while ((await a.level()) > floors.escalate + 4) await a.take(1, 'acknowledge', deadline(50), never);
    const got: string[] = [];
    const blocker = a.take(1, 'acknowledge', deadline(50), never);
    const plans = [20, 30, 40].map((s) =>
      a.take(2, 'escalate', deadline(s), never).then(() => got.push(`+${s}s`)),
    );
    await blocker;
    await until('the newest plan', () => got.length === 1);
    assert.deepEqual(got, ['+40s']);
    assert.equal(await a.level(), floors.escalate, 'one token held by the next plan');
    const oneToken = Math.ceil(60_000 / ratePerMinute);
    clock.now += oneToken;
    await until('the second plan', () => got.length === 2);
    assert.deepEqual(got, ['+40s', '+30s']);
    clock.now += oneToken * 2;
    await Promise.all(plans);
    assert.deepEqual(got, ['+40s', '+30s', '+20s']);
  });
  test('a call withdrawn while Redis answers gives its tokens back; the calls behind it are served', async () => {
    const { a } = pair(960);
    const { capacity } = bucketFor(960);
    await a.level();
    const controller = new AbortController();
    // Asked alone; withdrawn once its step is on its way to Redis (the pump starts after the turn
    // it was asked in, and this turn comes after that one).
    const first = a.take(2, 'escalate', T0 + 50_000, controller.signal);
    await new Promise((r) => setImmediate(r));
    const rest = [a.take(1, 'escalate', T0 + 40_000, never), a.take(1, 'escalate', T0 + 30_000, never)];
    controller.abort(new Error('shutting down'));
    await assert.rejects(first, /shutting down/);
    await Promise.all(rest);
    await until("the withdrawn call's tokens back", async () => (await a.level()) === capacity - 2);
  });
  test("tokens given back go with the node's next step (no round trip of their own), or on their own soon after", async () => {
    const { a, b, key } = pair(960);
    const { capacity } = bucketFor(960);
    const bucket = async (): Promise<number> => Number(await ctx.redis.hget(key, 'tokens'));
    await a.take(3, 'escalate', T0 + 50_000, never);
    const runs = await scriptRuns();
    a.give(2);
    a.give(1);
    assert.equal((await scriptRuns()) - runs, 0, 'a give alone is not a round trip');
    await a.take(1, 'escalate', T0 + 50_000, never);
    assert.equal((await scriptRuns()) - runs, 1, 'the gives went with the take');
    assert.equal(await bucket(), capacity - 1);
    // The other node sees them in the bucket: its level reads the bucket (and gives its own spare).
    assert.equal(await b.level(), capacity - 1);
    a.give(1);
    await until('a spare token back on its own', async () => (await bucket()) === capacity);
  });
});
