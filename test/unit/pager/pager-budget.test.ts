/**
 * Two pagers (two nodes) sharing the region's request budget in a real redis-server, against the
 * PagerDuty simulator with its own rate limit: what the budget cannot answer is never sent (not even
 * looked up), a 429 that one node receives holds the other back until PagerDuty's reset, and what is
 * sent never earns a 429.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { LzError } from '../../../src/common/errors.js';
import { PagerErrorCodes } from '../../../src/pager/errors.js';
import { PagerDutyPager } from '../../../src/pager/pagerduty-pager.js';
import { SharedRequestBudget, bucketFor } from '../../../src/pager/request-budget.js';
import { PagerDutySimulator, simUserId } from '../../../src/sim/pagerduty.js';
import { privateRedis } from '../../helpers/redis.js';

const FROM = 'lazarus@example.com';
const never = (): AbortSignal => new AbortController().signal;

describe('PagerDutyPager with the shared request budget', () => {
  const ctx = privateRedis();
  let sim: PagerDutySimulator;
  const pagers: PagerDutyPager[] = [];
  let bucket = 0;

  /** Two nodes' pagers on one bucket of `perMinute`. */
  const nodes = (perMinute: number, budgetMs: number): [PagerDutyPager, PagerDutyPager, string] => {
    const key = `pager-budget-${bucket++}`;
    const make = (): PagerDutyPager => {
      const p = new PagerDutyPager({
        token: 'sim-token',
        from: FROM,
        baseUrl: sim.url,
        budgetMs,
        userId: simUserId(FROM),
        backoff: { initialMs: 20, maxMs: 200 },
        requestBudget: new SharedRequestBudget({ redis: ctx.redis, key, perMinute }),
      });
      pagers.push(p);
      return p;
    };
    return [make(), make(), key];
  };

  before(async () => {
    sim = await PagerDutySimulator.start({ policy: [FROM, 'oncall-2@example.com'], requestsPerMinute: 60 });
  });
  after(async () => {
    for (const p of pagers) p.close();
    await sim.close();
  });

  test('a storm of escalations: what the budget allows is sent, the rest sends nothing at all, and no 429', async () => {
    const [a, b] = nodes(60, 2_000);
    const keys = Array.from({ length: 20 }, (_, i) => `storm-${process.pid}-${i}`);
    for (const key of keys) sim.createIncident({ incidentKey: key, service: 'sms-api' });
    const before = sim.calls().length;
    const outcomes = await Promise.all(
      keys.map((key, i) =>
        (i % 2 === 0 ? a : b).escalate(key, '', never(), { onlyUntaken: true }).then(
          () => 'sent',
          (error: unknown) => (error instanceof LzError ? error.code : String(error)),
        ),
      ),
    );
    const calls = sim.calls().slice(before);
    const sent = keys.filter((_, i) => outcomes[i] === 'sent');
    const left = keys.filter((_, i) => outcomes[i] === PagerErrorCodes.OVER_BUDGET);
    assert.equal(sent.length + left.length, keys.length, JSON.stringify(outcomes));
    // The bucket starts full: its capacity, two requests per escalation, is sent at once.
    assert.ok(sent.length >= Math.floor(bucketFor(60).capacity / 2) - 1, `${sent.length} sent`);
    assert.ok(left.length > 0, 'a 60/min budget cannot answer 20 escalations in 2 s');
    assert.equal(calls.filter((c) => c.status === 429).length, 0, 'no 429');
    for (const key of left) {
      // Not looked up, not escalated: PagerDuty's timer has it.
      assert.equal(
        calls.filter((c) => c.query['incident_key'] === key).length,
        0,
        `${key} was looked up though it could not be escalated`,
      );
      assert.equal(sim.incident(key)?.escalation_level, 1);
    }
    for (const key of sent) assert.equal(sim.incident(key)?.escalation_level, 2);
    const records = [...a.calls(), ...b.calls()].filter((r) => left.includes(r.incidentKey));
    assert.ok(records.every((r) => r.code === PagerErrorCodes.OVER_BUDGET && r.attempts === 0));
  });

  test("a 429 on one node holds the other back until PagerDuty's ratelimit-reset", async () => {
    const [a, b, bucketKey] = nodes(960, 20_000);
    const first = `pause-a-${process.pid}`;
    const second = `pause-b-${process.pid}`;
    sim.createIncident({ incidentKey: first, service: 'sms-api' });
    sim.createIncident({ incidentKey: second, service: 'sms-api' });
    // Someone else spent the user's minute: the next request answers 429, come back in 1 s.
    sim.failNext(1, 429);
    const started = sim.calls().length;
    const pending = a.acknowledge(first, never());
    // Once node a has its 429, node b asks.
    for (
      let i = 0;
      i < 2_000 &&
      !sim
        .calls()
        .slice(started)
        .some((c) => c.status === 429);
      i++
    )
      await new Promise((r) => setTimeout(r, 5));
    const limited = sim
      .calls()
      .slice(started)
      .find((c) => c.status === 429);
    assert.ok(limited, 'the 429 was answered');
    // Node a tells the region as soon as it reads the answer: wait for that to reach Redis.
    for (let i = 0; i < 2_000 && Number((await ctx.redis.hget(bucketKey, 'paused_until')) ?? 0) === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    await b.note(second, 'after the pause', never());
    await pending;
    const bCalls = sim.calls().filter((c) => c.query['incident_key'] === second || c.path.includes('/notes'));
    const firstOfB = Math.min(...bCalls.map((c) => c.at));
    assert.ok(
      firstOfB >= limited.at + 900,
      `node b sent ${firstOfB - limited.at} ms after the 429, before the 1 s reset`,
    );
    assert.equal(sim.incident(first)?.status, 'acknowledged');
  });
});
