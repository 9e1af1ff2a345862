import { strict as assert } from 'node:assert';
import { after, afterEach, before, describe, test } from 'node:test';
import { PagerDutySimulator, simUserId } from '../../src/sim/pagerduty.js';

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

const AUTH = { authorization: 'Token token=sim-token', from: 'lazarus@example.com' };

/** A raw HTTP call, as any PagerDuty client would make it (not through pdjs: this tests the server). */
async function call(
  url: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...(options.headers ?? AUTH) },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : (JSON.parse(text) as unknown),
    headers: response.headers,
  };
}

const put = (status: string): unknown => ({ incident: { type: 'incident_reference', status } });

describe('PagerDuty simulator over HTTP', () => {
  let sim: PagerDutySimulator;

  before(async () => {
    sim = await PagerDutySimulator.start({ levels: 2 });
  });
  afterEach(async () => {
    await sim.clearFaults();
  });
  after(async () => {
    await sim.close();
  });

  test('lists incidents by incident key, as PagerDuty does', async () => {
    sim.createIncident({ incidentKey: 'list-a', service: 'sms-api' });
    sim.createIncident({ incidentKey: 'list-b', service: 'search' });
    const reply = await call(`${sim.url}/incidents?incident_key=list-a`);
    assert.equal(reply.status, 200);
    const { incidents, more } = reply.body as {
      incidents: { incident_key: string; status: string }[];
      more: boolean;
    };
    assert.deepEqual(
      incidents.map((i) => [i.incident_key, i.status]),
      [['list-a', 'triggered']],
    );
    assert.equal(more, false);
  });

  test('token and From header are checked', async () => {
    const { id } = sim.createIncident({ incidentKey: 'auth', service: 'sms-api' });
    assert.equal((await call(`${sim.url}/incidents`, { headers: {} })).status, 401);
    assert.equal(
      (await call(`${sim.url}/incidents`, { headers: { authorization: 'Token token=nope' } })).status,
      401,
    );
    const noFrom = await call(`${sim.url}/incidents/${id}`, {
      method: 'PUT',
      body: put('acknowledged'),
      headers: { authorization: AUTH.authorization },
    });
    assert.equal(noFrom.status, 400);
    assert.match(JSON.stringify(noFrom.body), /From/);
    assert.equal(sim.incident('auth')?.status, 'triggered');
  });

  test('status updates, escalation levels and notes', async () => {
    const { id } = sim.createIncident({ incidentKey: 'life', service: 'sms-api' });
    const url = `${sim.url}/incidents/${id}`;
    assert.equal((await call(url, { method: 'PUT', body: put('acknowledged') })).status, 200);
    assert.equal(sim.incident('life')?.status, 'acknowledged');
    const escalation = { incident: { type: 'incident_reference', escalation_level: 2 } };
    const escalated = await call(url, { method: 'PUT', body: escalation });
    assert.equal(escalated.status, 200);
    assert.deepEqual(
      [sim.incident('life')?.escalation_level, sim.incident('life')?.status],
      [2, 'triggered'],
    );
    const beyond = { incident: { type: 'incident_reference', escalation_level: 3 } };
    assert.equal((await call(url, { method: 'PUT', body: beyond })).status, 400, 'the policy has 2 levels');
    assert.equal(
      (await call(url, { method: 'PUT', body: { incident: { status: 'resolved' } } })).status,
      400,
    );
    assert.equal((await call(url, { method: 'PUT', body: put('snoozed') })).status, 400);
    const note = await call(`${url}/notes`, { method: 'POST', body: { note: { content: 'facts' } } });
    assert.equal(note.status, 201);
    assert.equal((note.body as { note: { content: string } }).note.content, 'facts');
    assert.equal((await call(url, { method: 'PUT', body: put('resolved') })).status, 200);
    const again = await call(url, { method: 'PUT', body: put('acknowledged') });
    assert.equal(again.status, 400);
    assert.match(JSON.stringify(again.body), /Already Resolved/);
    assert.equal(
      (await call(`${sim.url}/incidents/PNOPE00`, { method: 'PUT', body: put('resolved') })).status,
      404,
    );
  });

  test('acknowledgements name who acknowledged, and are cleared by an escalation; users by address', async () => {
    const { id } = sim.createIncident({ incidentKey: 'who', service: 'sms-api' });
    const url = `${sim.url}/incidents/${id}`;
    type Acks = { incident: { acknowledgements: { acknowledger: { id: string; summary: string } }[] } };
    const ours = await call(url, { method: 'PUT', body: put('acknowledged') });
    sim.acknowledgeAs('who', 'alice@example.com');
    const both = (await call(url)).body as Acks;
    assert.deepEqual(
      both.incident.acknowledgements.map((a) => a.acknowledger.summary),
      ['lazarus@example.com', 'alice@example.com'],
    );
    assert.equal(
      (ours.body as Acks).incident.acknowledgements[0]?.acknowledger.id,
      simUserId('lazarus@example.com'),
    );
    const users = await call(`${sim.url}/users?query=${encodeURIComponent('alice@example.com')}`);
    assert.deepEqual(
      (users.body as { users: { id: string; email: string }[] }).users.map((u) => [u.id, u.email]),
      [[simUserId('alice@example.com'), 'alice@example.com']],
    );
    assert.notEqual(simUserId('alice@example.com'), simUserId('lazarus@example.com'));
    const escalation = { incident: { type: 'incident_reference', escalation_level: 2 } };
    await call(url, { method: 'PUT', body: escalation });
    assert.deepEqual(((await call(url)).body as Acks).incident.acknowledgements, []);
    assert.throws(() => sim.acknowledgeAs('no-such-key', 'alice@example.com'), /no open incident/);
  });

  test('faults: fail_next, rate limit with Retry-After, slow, down', async () => {
    sim.failNext(2, 503);
    assert.deepEqual(
      [(await call(`${sim.url}/incidents`)).status, (await call(`${sim.url}/incidents`)).status],
      [503, 503],
    );
    assert.equal((await call(`${sim.url}/incidents`)).status, 200);

    sim.rateLimit(1, 10_000);
    assert.equal((await call(`${sim.url}/incidents`)).status, 200);
    const limited = await call(`${sim.url}/incidents`);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    sim.rateLimit(undefined);

    sim.slow(200);
    const started = Date.now();
    await call(`${sim.url}/incidents`);
    assert.ok(Date.now() - started >= 190);
    sim.slow(0);

    await sim.down();
    await assert.rejects(call(`${sim.url}/incidents`));
    // The simulator's own routes stay up during a `reset` outage.
    assert.equal((await call(`${sim.url}/sim/incidents`)).status, 200);
    await sim.up();
    assert.equal((await call(`${sim.url}/incidents`)).status, 200);

    await sim.down('refuse');
    await assert.rejects(call(`${sim.url}/sim/incidents`));
    await sim.up();
    assert.equal((await call(`${sim.url}/incidents`)).status, 200);
  });

  test('the simulator API: incidents, faults, calls', async () => {
    const created = await call(`${sim.url}/sim/incidents`, {
      method: 'POST',
      body: { incident_key: 'sim-api', service: 'search' },
    });
    assert.equal(created.status, 201);
    assert.equal(sim.incident('sim-api')?.service, 'search');
    const dup = await call(`${sim.url}/sim/incidents`, {
      method: 'POST',
      body: { incident_key: 'sim-api', service: 'search' },
    });
    assert.equal(dup.status, 400, 'an open key cannot be paged twice');

    assert.equal(
      (
        await call(`${sim.url}/sim/faults`, {
          method: 'POST',
          body: { fail_next: { count: 1, status: 500 } },
        })
      ).status,
      201,
    );
    assert.equal((await call(`${sim.url}/incidents`)).status, 500);
    assert.equal((await call(`${sim.url}/sim/faults`, { method: 'POST', body: { bogus: 1 } })).status, 400);
    assert.equal((await call(`${sim.url}/sim/faults`, { method: 'DELETE' })).status, 204);

    const calls = (await call(`${sim.url}/sim/calls`)).body as {
      path: string;
      status: number;
      from?: string;
    }[];
    assert.ok(calls.some((c) => c.path === '/incidents' && c.status === 500));
    assert.ok(
      calls.every((c) => !c.path.startsWith('/sim/')),
      'simulator routes are not recorded',
    );
  });
});
