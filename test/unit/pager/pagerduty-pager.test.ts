import { strict as assert } from 'node:assert';
import { after, afterEach, before, describe, test } from 'node:test';
import { LzError } from '../../../src/common/errors.js';
import { PagerErrorCodes } from '../../../src/pager/errors.js';
import { PagerDutyPager, type PagerDutyPagerOptions } from '../../../src/pager/pagerduty-pager.js';
import { PagerDutySimulator, simUserId } from '../../../src/sim/pagerduty.js';

const FROM = 'lazarus@example.com';
const never = (): AbortSignal => new AbortController().signal;
let keys = 0;
const freshKey = (): string => `key-${process.pid}-${++keys}`;

/** Asserts that `promise` rejects with an LzError of this code and retryability. */
async function rejectsWith(promise: Promise<unknown>, code: string, retryable = false): Promise<LzError> {
  let caught: unknown;
  await promise.catch((error: unknown) => {
    caught = error;
  });
  assert.ok(caught instanceof LzError, `expected an LzError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.retryable, retryable);
  return caught;
}

describe('PagerDutyPager against the simulator', () => {
  let sim: PagerDutySimulator;
  const pagers: PagerDutyPager[] = [];
  const pager = (options: Partial<PagerDutyPagerOptions> = {}): PagerDutyPager => {
    const p = new PagerDutyPager({
      token: 'sim-token',
      from: FROM,
      baseUrl: sim.url,
      backoff: { initialMs: 20, maxMs: 200 },
      ...options,
    });
    pagers.push(p);
    return p;
  };
  const incident = (service = 'sms-api'): string => {
    const key = freshKey();
    sim.createIncident({ incidentKey: key, service });
    return key;
  };

  before(async () => {
    sim = await PagerDutySimulator.start();
  });
  afterEach(async () => {
    await sim.clearFaults();
  });
  after(async () => {
    for (const p of pagers) p.close();
    await sim.close();
  });

  test('acknowledges the incident of a key, with the token and the From header, from documented fields only', async () => {
    const key = incident();
    const p = pager();
    const result = await p.acknowledge(key, never());
    const state = sim.incident(key);
    assert.deepEqual(result, { incident_id: state?.id, status: 'acknowledged' });
    assert.equal(state?.status, 'acknowledged');
    assert.equal(state?.log.at(-1)?.from, FROM);
    const calls = sim
      .calls()
      .filter(
        (c) => c.query['incident_key'] === key || c.path.includes(state?.id ?? '?') || c.path === '/users/me',
      );
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.path} ${c.status}`),
      [
        'GET /incidents 200',
        'GET /users/me 200',
        `GET /incidents/${state?.id}/log_entries 200`,
        `PUT /incidents/${state?.id} 200`,
      ],
    );
    // The open incident, newest first: a key used many times still finds it on the first page.
    assert.deepEqual(calls[0]?.query, {
      incident_key: key,
      'statuses[]': 'acknowledged',
      sort_by: 'created_at:desc',
      limit: '1',
    });
    assert.deepEqual(calls[3]?.body, { incident: { type: 'incident_reference', status: 'acknowledged' } });
    const [record] = p.calls();
    assert.equal(record?.verb, 'acknowledge');
    assert.equal(record?.ok, true);
    assert.ok(record !== undefined && Number.isFinite(record.latencyMs) && record.latencyMs >= 0);
  });

  test('caches the incident id per key: a second call does not look it up again', async () => {
    const key = incident();
    const p = pager();
    await p.acknowledge(key, never());
    const before = sim.calls().length;
    await p.note(key, 'second call', never());
    const calls = sim.calls().slice(before);
    assert.deepEqual(
      calls.map((c) => c.method),
      ['POST'],
    );
  });

  test("escalates a page the controller holds to the second level, with the reason as a note; then it is the humans'", async () => {
    const key = incident();
    const p = pager();
    assert.equal((await p.escalate(key, 'checks failed on 2 of 3 nodes', never())).escalation_level, 2);
    const state = sim.incident(key);
    assert.equal(state?.escalation_level, 2);
    assert.equal(state?.status, 'triggered');
    assert.deepEqual(
      state?.notes.map((n) => n.content),
      ['Escalated by Lazarus: checks failed on 2 of 3 nodes'],
    );
    // Assigned to the second level now: not the controller's to move further.
    assert.deepEqual(await p.escalate(key, 'still failing', never()), {
      incident_id: state?.id,
      escalation_level: 0,
      escalated: false,
      left: 'taken',
    });
    assert.equal(sim.incident(key)?.escalation_level, 2);
  });

  test('the evidence note with the escalation fails: the escalation still stands as made, the note as failed', async () => {
    const key = incident();
    const view = pager().forEvent(Date.now());
    const id = sim.incident(key)?.id ?? '';
    // PagerDuty refuses the note (a 400 is not retried); the escalation before it went through.
    sim.failNext(1, 400, `/incidents/${id}/notes`);
    const answer = await view.escalate(key, '', never(), { onlyUntaken: true, note: 'the evidence' });
    assert.equal(answer.escalation_level, 2);
    assert.equal(sim.incident(key)?.escalation_level, 2);
    assert.deepEqual(sim.incident(key)?.notes, []);
    const calls = view.calls().map((c) => `${c.verb}:${String(c.ok)}`);
    assert.deepEqual(calls, ['escalate:true', 'note:false']);
  });

  test('a resolved page is never touched: no escalation, no acknowledgement (it would reopen)', async () => {
    const key = incident();
    sim.resolveAs(key, 'alice@example.com');
    const p = pager();
    const before = sim.calls().length;
    assert.equal((await p.escalate(key, 'late report', never())).left, 'resolved');
    await rejectsWith(p.acknowledge(key, never()), PagerErrorCodes.RESOLVED);
    assert.ok(
      !sim
        .calls()
        .slice(before)
        .some((c) => c.method !== 'GET'),
      'nothing written',
    );
    assert.equal(sim.incident(key)?.status, 'resolved');
  });

  test('onlyUntaken: a page that is acknowledged, or assigned past the controller, is left as it is', async () => {
    const p = pager();
    const acked = incident();
    await p.acknowledge(acked, never());
    assert.deepEqual(await p.escalate(acked, 'lock held', never(), { onlyUntaken: true }), {
      incident_id: sim.incident(acked)?.id,
      escalation_level: 0,
      escalated: false,
      left: 'taken',
    });
    assert.equal(sim.incident(acked)?.status, 'acknowledged');
    assert.equal(sim.incident(acked)?.escalation_level, 1);

    const withHumans = incident();
    sim.escalate(withHumans);
    const again = await p.escalate(withHumans, 'stale', never(), { onlyUntaken: true });
    assert.equal(again.escalated, false);
    assert.equal(sim.incident(withHumans)?.escalation_level, 2, 'not moved to 3');

    const untaken = incident();
    const first = await p.escalate(untaken, '', never(), { onlyUntaken: true });
    assert.deepEqual([first.escalated, first.escalation_level], [true, 2]);
  });

  for (const [how, hand] of [
    ["escalated by PagerDuty's timer", (key: string) => sim.escalate(key)],
    ['escalated by a person', (key: string) => sim.escalate(key, { by: 'alice@example.com' })],
    ['reassigned by a person', (key: string) => sim.reassign(key, 'alice@example.com', 'bob@example.com')],
    [
      'escalated, then assigned back to the controller',
      (key: string) => {
        sim.escalate(key, { by: 'alice@example.com' });
        sim.reassign(key, 'alice@example.com', FROM);
      },
    ],
  ] as const) {
    test(`refuses to acknowledge a page ${how}: the humans have it`, async () => {
      const key = incident();
      hand(key);
      const before = sim.calls().length;
      const error = await rejectsWith(pager().acknowledge(key, never()), PagerErrorCodes.ALREADY_ESCALATED);
      assert.match(error.message, /the humans have it/);
      assert.ok(
        !sim
          .calls()
          .slice(before)
          .some((c) => c.method === 'PUT'),
        'no acknowledgement is sent',
      );
      assert.equal(sim.incident(key)?.status, 'triggered', 'the humans are still being paged');
    });
  }

  test('a key reused 30 times, the open incident last: that one is acknowledged', async () => {
    const key = freshKey();
    for (let i = 0; i < 30; i++) {
      sim.createIncident({ incidentKey: key, service: 'sms-api' });
      if (i < 29) sim.resolveAs(key, 'alice@example.com');
    }
    const open = sim.incident(key);
    assert.equal(open?.status, 'triggered');
    assert.deepEqual(await pager().acknowledge(key, never()), {
      incident_id: open?.id,
      status: 'acknowledged',
    });
    assert.equal(sim.incidents().filter((i) => i.incident_key === key && i.status !== 'resolved').length, 1);
  });

  test('refuses to acknowledge a page a person has acknowledged, and names them', async () => {
    const key = incident();
    sim.acknowledgeAs(key, 'alice@example.com');
    const before = sim.calls().length;
    const error = await rejectsWith(pager().acknowledge(key, never()), PagerErrorCodes.TAKEN);
    assert.match(error.message, /acknowledged by alice\b/);
    const calls = sim.calls().slice(before);
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.path}`),
      ['GET /incidents', 'GET /users/me'],
      'no acknowledgement is sent',
    );
    const state = sim.incident(key);
    assert.deepEqual(
      state?.acknowledgements.map((a) => a.from),
      ['alice@example.com'],
    );
  });

  test("acknowledges again a page the controller's own user acknowledged (another node); looks itself up once", async () => {
    const key = incident();
    const other = incident();
    await pager().acknowledge(key, never());
    await pager().acknowledge(other, never());
    const p = pager();
    const before = sim.calls().length;
    assert.equal((await p.acknowledge(key, never())).status, 'acknowledged');
    assert.equal((await p.acknowledge(other, never())).status, 'acknowledged');
    const lookups = sim
      .calls()
      .slice(before)
      .filter((c) => c.path === '/users/me');
    assert.equal(lookups.length, 1, 'GET /users/me once');
    // A person joining in afterwards makes it theirs.
    sim.acknowledgeAs(key, 'bob@example.com');
    const error = await rejectsWith(p.acknowledge(key, never()), PagerErrorCodes.TAKEN);
    assert.match(error.message, /bob\b/);
    assert.doesNotMatch(error.message, /lazarus/);
  });

  test('PagerDuty will not say who the controller is (/users/me refused): no acknowledgement; a configured user id needs no lookup', async () => {
    const key = incident();
    sim.failNext(1, 403, '/users/me');
    const before = sim.calls().length;
    const error = await rejectsWith(pager().acknowledge(key, never()), PagerErrorCodes.UNAUTHORIZED);
    assert.match(error.message, /GET \/users\/me.*HTTP 403/);
    assert.ok(
      !sim
        .calls()
        .slice(before)
        .some((c) => c.method === 'PUT'),
      'nothing sent',
    );
    const mark = sim.calls().length;
    await pager({ userId: simUserId(FROM) }).acknowledge(key, never());
    assert.ok(
      !sim
        .calls()
        .slice(mark)
        .some((c) => c.path === '/users/me'),
    );
    assert.equal(sim.incident(key)?.status, 'acknowledged');
  });

  test('adds a note and returns its id', async () => {
    const key = incident();
    const { note_id } = await pager().note(
      key,
      'Assisted diagnosis: MinActiveHosts failed on node-b',
      never(),
    );
    const notes = sim.incident(key)?.notes ?? [];
    assert.equal(notes.length, 1);
    assert.equal(notes[0]?.id, note_id);
    assert.equal(notes[0]?.content, 'Assisted diagnosis: MinActiveHosts failed on node-b');
    assert.equal(notes[0]?.from, FROM);
  });

  test('resolves with a note; resolving again is still a success', async () => {
    const key = incident();
    const p = pager();
    await p.acknowledge(key, never());
    assert.deepEqual(await p.resolve(key, 'replaced the host', never()), {
      incident_id: sim.incident(key)?.id,
      status: 'resolved',
    });
    assert.equal(sim.incident(key)?.status, 'resolved');
    assert.deepEqual(
      sim.incident(key)?.notes.map((n) => n.content),
      ['replaced the host'],
    );
    // As after a lost answer: PagerDuty says "already resolved", the incident is resolved.
    assert.equal((await p.resolve(key, undefined, never())).status, 'resolved');
  });

  test('a new page with the key of a resolved incident is found again', async () => {
    const key = incident();
    const p = pager();
    await p.resolve(key, undefined, never());
    sim.createIncident({ incidentKey: key, service: 'sms-api' });
    const { incident_id } = await p.acknowledge(key, never());
    assert.equal(incident_id, sim.incident(key)?.id);
    assert.equal(sim.incidents().filter((i) => i.incident_key === key).length, 2);
  });

  test('500 twice, then 200: still acknowledged', async () => {
    const key = incident();
    const p = pager();
    sim.failNext(2, 500);
    const before = sim.calls().length;
    await p.acknowledge(key, never());
    assert.equal(sim.incident(key)?.status, 'acknowledged');
    assert.deepEqual(
      sim
        .calls()
        .slice(before)
        .map((c) => c.status),
      [500, 500, 200, 200, 200, 200],
    );
    assert.equal(p.calls()[0]?.attempts, 6);
  });

  test('unreachable past a short budget: LZ_ERR_PAGER_UNAVAILABLE, not retryable, promptly', async () => {
    const key = incident();
    await sim.down('refuse');
    const p = pager({ budgetMs: 400 });
    const started = Date.now();
    const error = await rejectsWith(p.acknowledge(key, never()), PagerErrorCodes.UNAVAILABLE);
    const took = Date.now() - started;
    assert.ok(took < 1_000, `gave up after ${took} ms`);
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(p.calls()[0]?.code, PagerErrorCodes.UNAVAILABLE);
    assert.ok((p.calls()[0]?.attempts ?? 0) >= 2, 'retried before giving up');
  });

  test('connections reset: retried, then unavailable at the budget', async () => {
    const key = incident();
    await sim.down('reset');
    const started = Date.now();
    await rejectsWith(pager({ budgetMs: 300 }).acknowledge(key, never()), PagerErrorCodes.UNAVAILABLE);
    assert.ok(Date.now() - started < 1_000);
    assert.ok(sim.calls().filter((c) => c.status === 'dropped').length >= 2);
  });

  test('slow answers: each attempt times out, the call gives up at the budget', async () => {
    const key = incident();
    sim.slow(2_000);
    const started = Date.now();
    const error = await rejectsWith(
      pager({ budgetMs: 700, attemptTimeoutMs: 250 }).acknowledge(key, never()),
      PagerErrorCodes.UNAVAILABLE,
    );
    const took = Date.now() - started;
    assert.ok(took >= 600 && took < 1_500, `gave up after ${took} ms`);
    assert.match(error.message, /no answer within \d+ ms/);
  });

  test('429: waits out Retry-After and succeeds', async () => {
    const key = incident();
    sim.failNext(2, 429);
    const before = sim.calls().length;
    const p = pager();
    const started = Date.now();
    await p.acknowledge(key, never());
    const took = Date.now() - started;
    assert.equal(sim.incident(key)?.status, 'acknowledged');
    assert.ok(took >= 2_000, `Retry-After: 1 was honoured twice (${took} ms)`);
    // Every attempt is one request: nothing retried behind the client's back.
    const calls = sim.calls().slice(before);
    const limited = calls.filter((c) => c.status === 429);
    assert.equal(limited.length, 2);
    assert.ok((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0) >= 950, 'the retry came after the reset');
  });

  test('429 with a Retry-After past the budget: gives up at once', async () => {
    const key = incident();
    sim.rateLimit(0, 60_000);
    const started = Date.now();
    const error = await rejectsWith(
      pager({ budgetMs: 5_000 }).acknowledge(key, never()),
      PagerErrorCodes.UNAVAILABLE,
    );
    assert.match(error.message, /rate limited past the budget/);
    assert.ok(Date.now() - started < 1_500);
  });

  test('no incident with the key: LZ_ERR_PAGER_NO_INCIDENT', async () => {
    await rejectsWith(
      pager({ incidentGraceMs: 0 }).acknowledge('no-such-key', never()),
      PagerErrorCodes.NO_INCIDENT,
    );
  });

  test('an incident that PagerDuty creates a moment after the event is still found', async () => {
    const key = freshKey();
    setTimeout(() => sim.createIncident({ incidentKey: key, service: 'sms-api' }), 300);
    const result = await pager({ incidentGraceMs: 3_000 }).acknowledge(key, never());
    assert.equal(result.incident_id, sim.incident(key)?.id);
  });

  test('a bad token: LZ_ERR_PAGER_UNAUTHORIZED at once, no retries', async () => {
    const key = incident();
    const before = sim.calls().length;
    const error = await rejectsWith(
      pager({ token: 'wrong' }).acknowledge(key, never()),
      PagerErrorCodes.UNAUTHORIZED,
    );
    assert.match(error.message, /401/);
    assert.equal(sim.calls().length - before, 1);
  });

  test('no From address: PagerDuty refuses the write', async () => {
    const key = incident();
    const error = await rejectsWith(pager({ from: '' }).acknowledge(key, never()), PagerErrorCodes.REJECTED);
    assert.match(error.message, /400.*From/);
  });

  test('forEvent: the budget runs from the event time, and the first response is measured from it', async () => {
    const key = incident();
    const root = pager({ budgetMs: 5_000 });
    const view = root.forEvent(Date.now() - 1_000);
    await view.acknowledge(key, never());
    const ms = view.firstResponseMs();
    assert.ok(ms !== undefined && ms >= 1_000 && ms < 2_000, `first response ${ms} ms after the event`);
    assert.equal(root.calls().length, 0, 'the view keeps its own records');

    // An event whose race is over: nothing is sent. (Handing back a page the controller holds is in
    // no race: see the budget tests.)
    const late = root.forEvent(Date.now() - 6_000);
    const before = sim.calls().length;
    await rejectsWith(
      late.escalate(incident(), 'too late', never(), { onlyUntaken: true }),
      PagerErrorCodes.UNAVAILABLE,
    );
    assert.equal(sim.calls().length, before);
    assert.equal(late.firstResponseMs(), undefined);
  });

  test('an aborted call stops at once with the signal reason', async () => {
    const key = incident();
    sim.slow(5_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('step timed out')), 100);
    const started = Date.now();
    await assert.rejects(pager().acknowledge(key, controller.signal), /step timed out/);
    assert.ok(Date.now() - started < 500);
  });
});
