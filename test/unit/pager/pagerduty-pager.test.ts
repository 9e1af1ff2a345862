import { strict as assert } from 'node:assert';
import { after, afterEach, before, describe, test } from 'node:test';
import { LzError } from '../../../src/common/errors.js';
import { PagerErrorCodes } from '../../../src/pager/errors.js';
import { PagerDutyPager, type PagerDutyPagerOptions } from '../../../src/pager/pagerduty-pager.js';
import { PagerDutySimulator } from '../../../src/sim/pagerduty.js';

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

  test('acknowledges the incident of a key, with the token and the From header', async () => {
    const key = incident();
    const p = pager();
    const result = await p.acknowledge(key, never());
    const state = sim.incident(key);
    assert.deepEqual(result, { incident_id: state?.id, status: 'acknowledged' });
    assert.equal(state?.status, 'acknowledged');
    assert.equal(state?.log.at(-1)?.from, FROM);
    const calls = sim
      .calls()
      .filter((c) => c.query['incident_key'] === key || c.path.endsWith(state?.id ?? '?'));
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.path} ${c.status}`),
      ['GET /incidents 200', `PUT /incidents/${state?.id} 200`],
    );
    assert.deepEqual(calls[1]?.body, { incident: { type: 'incident_reference', status: 'acknowledged' } });
    const [record] = p.calls();
    assert.equal(record?.verb, 'acknowledge');
    assert.equal(record?.ok, true);
    assert.equal(record?.attempts, 2);
    assert.ok(record !== undefined && record.latencyMs >= 0 && record.latencyMs < 1_000);
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

  test('escalates to the next level each time, with the reason as a note', async () => {
    const key = incident();
    const p = pager();
    assert.equal((await p.escalate(key, 'checks failed on 2 of 3 nodes', never())).escalation_level, 2);
    assert.equal(sim.incident(key)?.escalation_level, 2);
    assert.equal((await p.escalate(key, 'still failing', never())).escalation_level, 3);
    const state = sim.incident(key);
    assert.equal(state?.escalation_level, 3);
    assert.equal(state?.status, 'triggered');
    assert.deepEqual(
      state?.notes.map((n) => n.content),
      ['Escalated by Lazarus: checks failed on 2 of 3 nodes', 'Escalated by Lazarus: still failing'],
    );
  });

  test('escalation starts from the level PagerDuty reports, not from 1', async () => {
    const key = incident();
    const p = pager();
    await p.acknowledge(key, never());
    // A human (or PagerDuty's timer) escalated meanwhile: the next level is 3.
    await pager().escalate(key, '', never());
    assert.equal((await p.escalate(key, '', never())).escalation_level, 3);
  });

  test('onlyUntaken: a page that is acknowledged or past the first level is left as it is', async () => {
    const p = pager();
    const acked = incident();
    await p.acknowledge(acked, never());
    assert.deepEqual(await p.escalate(acked, 'lock held', never(), { onlyUntaken: true }), {
      incident_id: sim.incident(acked)?.id,
      escalation_level: 1,
      escalated: false,
    });
    assert.equal(sim.incident(acked)?.status, 'acknowledged');
    assert.equal(sim.incident(acked)?.escalation_level, 1);

    const withHumans = incident();
    await p.escalate(withHumans, '', never());
    const again = await p.escalate(withHumans, 'stale', never(), { onlyUntaken: true });
    assert.equal(again.escalated, false);
    assert.equal(sim.incident(withHumans)?.escalation_level, 2, 'not moved to 3');

    const untaken = incident();
    const first = await p.escalate(untaken, '', never(), { onlyUntaken: true });
    assert.deepEqual([first.escalated, first.escalation_level], [true, 2]);
  });

  test('refuses to acknowledge a page that is already with the humans', async () => {
    const key = incident();
    const p = pager();
    await p.escalate(key, 'checks failed', never());
    const error = await rejectsWith(p.acknowledge(key, never()), PagerErrorCodes.ALREADY_ESCALATED);
    assert.match(error.message, /level 2/);
    assert.equal(sim.incident(key)?.status, 'triggered', 'the humans are still being paged');
  });

  test('refuses to acknowledge a page a person has acknowledged, and names them', async () => {
    const key = incident();
    sim.acknowledgeAs(key, 'alice@example.com');
    const before = sim.calls().length;
    const error = await rejectsWith(pager().acknowledge(key, never()), PagerErrorCodes.TAKEN);
    assert.match(error.message, /acknowledged by alice@example\.com/);
    const calls = sim.calls().slice(before);
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.path}`),
      ['GET /incidents', 'GET /users'],
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
      .filter((c) => c.path === '/users');
    assert.equal(lookups.length, 1);
    assert.equal(lookups[0]?.query.query, FROM);
    // A person joining in afterwards makes it theirs.
    sim.acknowledgeAs(key, 'bob@example.com');
    const error = await rejectsWith(p.acknowledge(key, never()), PagerErrorCodes.TAKEN);
    assert.match(error.message, /bob@example\.com/);
    assert.doesNotMatch(error.message, /lazarus@example\.com/);
  });

  test('a page acknowledged already, and PagerDuty will not say who the controller is (403 on /users): no acknowledgement', async () => {
    const key = incident();
    await pager().acknowledge(key, never());
    sim.failNext(1, 403, '/users');
    const before = sim.calls().length;
    const error = await rejectsWith(pager().acknowledge(key, never()), PagerErrorCodes.UNAUTHORIZED);
    assert.match(error.message, /look up the user lazarus@example\.com: HTTP 403/);
    assert.ok(
      !sim
        .calls()
        .slice(before)
        .some((c) => c.method === 'PUT'),
      'nothing sent',
    );
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
      [500, 500, 200, 200],
    );
    assert.equal(p.calls()[0]?.attempts, 4);
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
    // pdjs retries a 429 three times itself; the fifth answer is the first that is not a 429.
    sim.failNext(5, 429);
    const p = pager({ rateLimitWaitMs: 50 });
    const started = Date.now();
    await p.acknowledge(key, never());
    const took = Date.now() - started;
    assert.equal(sim.incident(key)?.status, 'acknowledged');
    assert.ok(took >= 1_000, `Retry-After: 1 was honoured (${took} ms)`);
  });

  test('429 with a Retry-After past the budget: gives up at once', async () => {
    const key = incident();
    sim.rateLimit(0, 60_000);
    const started = Date.now();
    const error = await rejectsWith(
      pager({ budgetMs: 5_000, rateLimitWaitMs: 50 }).acknowledge(key, never()),
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

    // An event whose budget is spent: nothing is sent.
    const late = root.forEvent(Date.now() - 6_000);
    const before = sim.calls().length;
    await rejectsWith(late.escalate(incident(), 'too late', never()), PagerErrorCodes.UNAVAILABLE);
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
