import { strict as assert } from 'node:assert';
import { after, afterEach, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { IncidentUpdates, type UpdateBudget } from '../../../src/pager/incident-updates.js';
import { PagerDutyClient } from '../../../src/pager/pagerduty-client.js';
import { PagerDutyPager } from '../../../src/pager/pagerduty-pager.js';
import { PagerErrorCodes } from '../../../src/pager/errors.js';
import { PagerDutySimulator } from '../../../src/sim/pagerduty.js';
import { waitFor } from '../../helpers/wait.js';
import { UPDATE_INCIDENTS_REQUEST_SCHEMA } from '../../helpers/pagerduty-schemas.js';

const FROM = 'lazarus@example.com';
const never = (): AbortSignal => new AbortController().signal;
let keys = 0;
const freshKey = (): string => `upd-${process.pid}-${++keys}`;

describe('incident updates made together go as one PUT /incidents', () => {
  let sim: PagerDutySimulator;
  const pagers: PagerDutyPager[] = [];
  const pager = (): PagerDutyPager => {
    const p = new PagerDutyPager({
      token: 'sim-token',
      from: FROM,
      baseUrl: sim.url,
      backoff: { initialMs: 20, maxMs: 200 },
      // Held only while a lookup is on its way, however slow the machine: what is asserted is which go together.
      updateWindowMs: 60_000,
    });
    pagers.push(p);
    return p;
  };
  const incidents = (n: number): string[] =>
    Array.from({ length: n }, () => {
      const key = freshKey();
      sim.createIncident({ incidentKey: key, service: 'sms-api' });
      return key;
    });
  /** The simulator's calls about these incidents (or the shared update naming one of them). */
  const callsOf = (ks: readonly string[]) => {
    const ids = new Set(ks.map((k) => sim.incident(k)?.id));
    return sim.calls().filter((c) => {
      if (ks.includes(c.query['incident_key'] as string)) return true;
      if (c.path === '/incidents' && c.method === 'PUT')
        return ((c.body as { incidents?: { id: string }[] }).incidents ?? []).some((i) => ids.has(i.id));
      return [...ids].some((id) => id !== undefined && c.path.startsWith(`/incidents/${id}`));
    });
  };
  const ajv = new Ajv({ allErrors: true, strict: false });
  /**
   * The batcher on its own, on a real client of the simulator (closed after `body`); `budget` makes
   * a call's budget with one request in hand.
   */
  const direct = async (
    windowMs: number,
    body: (
      updates: IncidentUpdates,
      budget: (signal?: AbortSignal, deadlineMs?: number) => UpdateBudget,
    ) => Promise<void>,
    client: Partial<ConstructorParameters<typeof PagerDutyClient>[0]> = {},
  ): Promise<void> => {
    const c = new PagerDutyClient({ token: 'sim-token', from: FROM, baseUrl: sim.url, ...client });
    try {
      await body(new IncidentUpdates(c, windowMs), (signal = never(), deadlineMs = 10_000) => ({
        deadline: Date.now() + deadlineMs,
        signal,
        credits: 1,
        attempts: 0,
      }));
    } finally {
      c.close();
    }
  };

  before(async () => {
    sim = await PagerDutySimulator.start({ policy: [FROM, 'oncall-2@example.com'] });
  });
  afterEach(async () => {
    await sim.clearFaults();
  });
  after(async () => {
    for (const p of pagers) p.close();
    await sim.close();
  });

  test("five escalations made together: one update request, in the spec's shape, and each call its own answer", async () => {
    const ks = incidents(5);
    const p = pager();
    const answers = await Promise.all(ks.map((k) => p.escalate(k, '', never(), { onlyUntaken: true })));
    for (const [i, k] of ks.entries()) {
      assert.equal(sim.incident(k)?.escalation_level, 2, k);
      assert.deepEqual(answers[i], {
        incident_id: sim.incident(k)?.id,
        escalation_level: 2,
        escalated: true,
      });
    }
    const calls = callsOf(ks);
    const updates = calls.filter((c) => c.method === 'PUT');
    assert.deepEqual(
      updates.map((c) => `${c.path} ${c.status}`),
      ['/incidents 200'],
    );
    assert.deepEqual(
      calls.filter((c) => c.method === 'GET').map((c) => c.path),
      ks.map(() => '/incidents'),
    );
    const body = updates[0]?.body as { incidents: { id: string; escalation_level: number }[] };
    assert.ok(ajv.validate(UPDATE_INCIDENTS_REQUEST_SCHEMA, body), ajv.errorsText());
    assert.deepEqual(body.incidents.map((i) => i.id).sort(), ks.map((k) => sim.incident(k)?.id).sort());
    assert.ok(body.incidents.every((i) => i.escalation_level === 2));
    assert.equal(p.calls().filter((c) => c.verb === 'escalate' && c.ok).length, 5);
  });

  test('acknowledgements made together share one request too; a lone one is the single-incident PUT', async () => {
    const ks = incidents(3);
    const p = pager();
    const answers = await Promise.all(ks.map((k) => p.acknowledge(k, never())));
    assert.deepEqual(
      answers.map((a) => a.status),
      ['acknowledged', 'acknowledged', 'acknowledged'],
    );
    for (const k of ks) assert.equal(sim.incident(k)?.status, 'acknowledged');
    assert.deepEqual(
      callsOf(ks)
        .filter((c) => c.method === 'PUT')
        .map((c) => c.path),
      ['/incidents'],
    );
    const [lone] = incidents(1);
    await p.acknowledge(lone!, never());
    assert.deepEqual(
      callsOf([lone!])
        .filter((c) => c.method === 'PUT')
        .map((c) => c.path),
      [`/incidents/${sim.incident(lone!)?.id}`],
    );
  });

  test('a shared update refused as a whole: each update is sent again on its own, and each call has its answer', async () => {
    const ks = incidents(3);
    const p = pager();
    // The lookups are GETs of /incidents: the fault is the first PUT's only.
    sim.failNext(1, 400, '/incidents', 'PUT');
    const answers = await Promise.all(ks.map((k) => p.escalate(k, '', never(), { onlyUntaken: true })));
    assert.ok(answers.every((a) => a.escalated === true));
    for (const k of ks) assert.equal(sim.incident(k)?.escalation_level, 2);
    const puts = callsOf(ks).filter((c) => c.method === 'PUT');
    assert.deepEqual(
      puts.map((c) => `${c.path} ${c.status}`).sort(),
      ['/incidents 400', ...ks.map((k) => `/incidents/${sim.incident(k)?.id} 200`)].sort(),
    );
  });

  test("a 429 on the shared update is that operation's limit: its updates go one by one, and so do the next until its reset", async () => {
    const clock = { now: Date.now() };
    const p = new PagerDutyPager({
      token: 'sim-token',
      from: FROM,
      baseUrl: sim.url,
      backoff: { initialMs: 20, maxMs: 200 },
      // Held only while a lookup is on its way, however slow the machine: what is asserted is which go together.
      updateWindowMs: 60_000,
      now: () => clock.now,
    });
    pagers.push(p);
    const escalateAll = (ks: readonly string[]) =>
      Promise.all(ks.map((k) => p.escalate(k, '', never(), { onlyUntaken: true })));
    const puts = (ks: readonly string[]): string[] =>
      callsOf(ks)
        .filter((c) => c.method === 'PUT')
        .map((c) => `${c.path === '/incidents' ? c.path : 'one'} ${c.status}`)
        .sort();
    const first = incidents(3);
    sim.failNext(1, 429, '/incidents', 'PUT');
    assert.ok((await escalateAll(first)).every((a) => a.escalated === true));
    assert.deepEqual(puts(first), ['/incidents 429', 'one 200', 'one 200', 'one 200']);
    // Within its Retry-After (1 s; the clock has not moved): one by one, without trying it again.
    const next = incidents(2);
    await escalateAll(next);
    assert.deepEqual(puts(next), ['one 200', 'one 200']);
    clock.now += 1_500;
    const later = incidents(2);
    await escalateAll(later);
    assert.deepEqual(puts(later), ['/incidents 200']);
    for (const k of [...first, ...next, ...later]) assert.equal(sim.incident(k)?.escalation_level, 2, k);
  });

  test('held while another call is being looked up; one that aborts meanwhile leaves with its reason, the others go in one request paid once', async () => {
    const ks = incidents(3);
    await direct(60_000, async (updates, budget) => {
      let permits = 0;
      const counted = (signal?: AbortSignal): UpdateBudget => ({
        ...budget(signal),
        permit: () => {
          permits += 1;
          return Promise.resolve();
        },
      });
      const release = updates.prepare();
      const quitter = new AbortController();
      const ids = ks.map((k) => sim.incident(k)?.id ?? '');
      const budgets = [counted(), counted(quitter.signal), counted()];
      const pending = ids.map((id, i) => updates.update(id, { escalation_level: 2 }, budgets[i]!));
      const settled = Promise.allSettled(pending);
      // Nothing goes while a call is still looking its incident up (within the window).
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(callsOf(ks).length, 0);
      quitter.abort(new Error('the caller gave up'));
      await assert.rejects(pending[1]!, /the caller gave up/);
      assert.equal(callsOf(ks).length, 0, 'still held');
      release();
      const results = await settled;
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.deepEqual(
        ks.map((k) => sim.incident(k)?.escalation_level),
        [2, 1, 2],
      );
      const puts = callsOf(ks).filter((c) => c.method === 'PUT');
      assert.deepEqual(
        puts.map((c) => [c.path, (c.body as { incidents: { id: string }[] }).incidents.map((i) => i.id)]),
        [['/incidents', [ids[0], ids[2]]]],
      );
      assert.equal(permits, 1, 'one request, one permit');
      assert.deepEqual(
        budgets.map((b) => b.attempts),
        [1, 0, 1],
      );
    });
  });

  test('a call that aborts while the shared request is retried is left out of the next attempt', async () => {
    const ks = incidents(3);
    const ids = ks.map((k) => sim.incident(k)?.id ?? '');
    // A long backoff: the abort comes between the refused attempt and the next.
    const slowRetry = { backoff: { initialMs: 1_500, maxMs: 1_500 }, random: () => 1 };
    await direct(
      60_000,
      async (updates, budget) => {
        const quitter = new AbortController();
        sim.failNext(1, 503, '/incidents', 'PUT');
        const pending = ids.map((id, i) =>
          updates.update(id, { escalation_level: 2 }, budget(i === 1 ? quitter.signal : never(), 20_000)),
        );
        const settled = Promise.allSettled(pending);
        await waitFor('the refused first attempt', () =>
          Promise.resolve(callsOf(ks).some((c) => c.method === 'PUT' && c.status === 503) ? true : undefined),
        );
        quitter.abort(new Error('the step was cancelled'));
        assert.deepEqual(
          (await settled).map((r) => r.status),
          ['fulfilled', 'rejected', 'fulfilled'],
        );
        assert.deepEqual(
          callsOf(ks)
            .filter((c) => c.method === 'PUT')
            .map((c) => [c.status, (c.body as { incidents: { id: string }[] }).incidents.map((i) => i.id)]),
          [
            [503, ids],
            [200, [ids[0], ids[2]]],
          ],
        );
        assert.deepEqual(
          ks.map((k) => sim.incident(k)?.escalation_level),
          [2, 1, 2],
        );
      },
      slowRetry,
    );
  });

  test('a shared request that fails by its earliest deadline: a call with time left past it tries on its own', async () => {
    const ks = incidents(2);
    await direct(
      60_000,
      async (updates, budget) => {
        // The shared update keeps failing; the single-incident one does not.
        sim.failNext(1_000, 503, '/incidents', 'PUT');
        const release = updates.prepare();
        const [soon, later] = ks.map((k, i) =>
          updates.update(
            sim.incident(k)?.id ?? '',
            { status: 'acknowledged' },
            budget(never(), i === 0 ? 400 : 20_000),
          ),
        );
        release();
        await assert.rejects(soon!, (e: Error & { code?: string }) => e.code === PagerErrorCodes.UNAVAILABLE);
        assert.equal((await later!).status, 200);
        assert.equal(sim.incident(ks[0]!)?.status, 'triggered');
        assert.equal(sim.incident(ks[1]!)?.status, 'acknowledged');
      },
      { backoff: { initialMs: 20, maxMs: 50 } },
    );
  });

  test('two updates of one incident never share a request: the second goes in one of its own', async () => {
    const ks = incidents(2);
    const [a, b] = ks.map((k) => sim.incident(k)?.id ?? '');
    await direct(60_000, async (updates, budget) => {
      const release = updates.prepare();
      const pending = [
        updates.update(a!, { status: 'acknowledged' }, budget()),
        updates.update(b!, { status: 'acknowledged' }, budget()),
        updates.update(a!, { escalation_level: 2 }, budget()),
      ];
      release();
      assert.ok((await Promise.all(pending)).every((x) => x.status === 200));
      assert.deepEqual(
        callsOf(ks)
          .filter((c) => c.method === 'PUT')
          .map((c) => c.path)
          .sort(),
        ['/incidents', `/incidents/${a}`],
      );
    });
  });

  test('not held past its window: an update waits at most windowMs for a lookup that does not end', async () => {
    const [k] = incidents(1);
    await direct(30, async (updates, budget) => {
      updates.prepare(); // never released
      const answer = await updates.update(sim.incident(k!)?.id ?? '', { status: 'acknowledged' }, budget());
      assert.equal(answer.status, 200);
      assert.equal(sim.incident(k!)?.status, 'acknowledged');
    });
  });
});
