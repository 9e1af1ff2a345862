import { strict as assert } from 'node:assert';
import { after, afterEach, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { PagerDutySimulator, simUserId } from '../../src/sim/pagerduty.js';
import {
  ERROR_SCHEMA,
  INCIDENT_SCHEMA,
  LOG_ENTRY_SCHEMA,
  NOTE_SCHEMA,
  USER_SCHEMA,
  listSchema,
} from '../helpers/pagerduty-schemas.js';

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

const AUTH = { authorization: 'Token token=sim-token', from: 'lazarus@example.com' };

/** A raw HTTP call, as any PagerDuty client would make it (not through the pager: this tests the server). */
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
    sim = await PagerDutySimulator.start({ policy: ['lazarus@example.com', 'oncall-2@example.com'] });
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

  test('status updates, escalation levels and notes, with the statuses the spec gives', async () => {
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
    // Who holds it now: the second level's user, in `assignments`; no level in the incident.
    const held = (escalated.body as { incident: Record<string, unknown> }).incident;
    assert.equal('escalation_level' in held, false);
    assert.deepEqual(
      (held['assignments'] as { assignee: { id: string } }[]).map((a) => a.assignee.id),
      [simUserId('oncall-2@example.com')],
    );
    const beyond = { incident: { type: 'incident_reference', escalation_level: 3 } };
    assert.equal((await call(url, { method: 'PUT', body: beyond })).status, 400, 'the policy has 2 levels');
    assert.equal(
      (await call(url, { method: 'PUT', body: { incident: { status: 'resolved' } } })).status,
      400,
    );
    assert.equal((await call(url, { method: 'PUT', body: put('snoozed') })).status, 400);
    const note = await call(`${url}/notes`, { method: 'POST', body: { note: { content: 'facts' } } });
    assert.equal(note.status, 200, 'the spec answers a new note with 200');
    assert.equal((note.body as { note: { content: string } }).note.content, 'facts');
    assert.equal((await call(url, { method: 'PUT', body: put('resolved') })).status, 200);
    // Acknowledging a resolved incident reopens it, assigned to whoever acknowledged it (the spec).
    const again = await call(url, { method: 'PUT', body: put('acknowledged') });
    assert.equal(again.status, 200);
    assert.equal(sim.incident('life')?.status, 'acknowledged');
    assert.deepEqual(
      (again.body as { incident: { assignments: { assignee: { id: string } }[] } }).incident.assignments.map(
        (a) => a.assignee.id,
      ),
      [simUserId('lazarus@example.com')],
    );
    assert.equal(
      (await call(`${sim.url}/incidents/PNOPE00`, { method: 'PUT', body: put('resolved') })).status,
      404,
    );
  });

  test('PUT /incidents updates several incidents in one request; at most 250; refused whole when any update is', async () => {
    const a = sim.createIncident({ incidentKey: 'bulk-a', service: 'sms-api' });
    const b = sim.createIncident({ incidentKey: 'bulk-b', service: 'sms-api' });
    const c = sim.createIncident({ incidentKey: 'bulk-c', service: 'search' });
    const ref = (id: string, fields: object): object => ({ id, type: 'incident_reference', ...fields });
    const both = await call(`${sim.url}/incidents`, {
      method: 'PUT',
      body: { incidents: [ref(a.id, { status: 'acknowledged' }), ref(b.id, { escalation_level: 2 })] },
    });
    assert.equal(both.status, 200);
    assert.deepEqual(
      (both.body as { incidents: { id: string; status: string }[] }).incidents.map((i) => [i.id, i.status]),
      [
        [a.id, 'acknowledged'],
        [b.id, 'triggered'],
      ],
    );
    assert.equal(sim.incident('bulk-b')?.escalation_level, 2);
    sim.resolveAs('bulk-c', 'oncall-2@example.com');
    // One of them cannot be done (resolving a resolved incident): none is, and the refusal names it.
    const refused = await call(`${sim.url}/incidents`, {
      method: 'PUT',
      body: { incidents: [ref(a.id, { status: 'resolved' }), ref(c.id, { status: 'resolved' })] },
    });
    assert.equal(refused.status, 400);
    assert.match(
      (refused.body as { error: { errors: string[] } }).error.errors.join('; '),
      new RegExp(`incidents\\[1\\] \\(${c.id}\\): Incident Already Resolved`),
    );
    assert.equal(sim.incident('bulk-a')?.status, 'acknowledged', 'nothing of a refused request is done');
    const unknown = await call(`${sim.url}/incidents`, {
      method: 'PUT',
      body: { incidents: [ref('PNOPE00', { status: 'resolved' })] },
    });
    assert.equal(unknown.status, 400);
    const many = Array.from({ length: 251 }, () => ref(a.id, { status: 'acknowledged' }));
    assert.equal(
      (await call(`${sim.url}/incidents`, { method: 'PUT', body: { incidents: many } })).status,
      413,
    );
    assert.equal(
      (await call(`${sim.url}/incidents`, { method: 'PUT', body: { incidents: many.slice(0, 250) } })).status,
      200,
    );
  });

  test('acknowledgements name who acknowledged, and are cleared by an escalation; users by name, and /users/me', async () => {
    const { id } = sim.createIncident({ incidentKey: 'who', service: 'sms-api' });
    const url = `${sim.url}/incidents/${id}`;
    type Acks = { incident: { acknowledgements: { acknowledger: { id: string; summary: string } }[] } };
    const ours = await call(url, { method: 'PUT', body: put('acknowledged') });
    sim.acknowledgeAs('who', 'alice@example.com');
    const both = (await call(url)).body as Acks;
    assert.deepEqual(
      both.incident.acknowledgements.map((a) => a.acknowledger.id),
      [simUserId('lazarus@example.com'), simUserId('alice@example.com')],
    );
    assert.equal(
      (ours.body as Acks).incident.acknowledgements[0]?.acknowledger.id,
      simUserId('lazarus@example.com'),
    );
    // `query` matches the name (PagerDuty documents no match on the email).
    sim.acknowledgeAs('who', 'alice@example.com');
    const byName = await call(`${sim.url}/users?query=oncall-2`);
    assert.deepEqual(
      (byName.body as { users: { id: string; email: string }[] }).users.map((u) => u.email),
      ['oncall-2@example.com'],
    );
    const byEmail = await call(`${sim.url}/users?query=${encodeURIComponent('oncall-2@example.com')}`);
    assert.deepEqual((byEmail.body as { users: unknown[] }).users, []);
    const me = await call(`${sim.url}/users/me`);
    assert.equal((me.body as { user: { id: string } }).user.id, simUserId('lazarus@example.com'));
    const escalation = { incident: { type: 'incident_reference', escalation_level: 2 } };
    await call(url, { method: 'PUT', body: escalation });
    assert.deepEqual(((await call(url)).body as Acks).incident.acknowledgements, []);
    assert.throws(() => sim.acknowledgeAs('no-such-key', 'alice@example.com'), /no open incident/);
  });

  test("every answer has the shape PagerDuty's spec gives: incidents, log entries, users, notes, lists, errors", async () => {
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
    const check = (schema: object, value: unknown, what: string): void => {
      const validate = ajv.compile(schema);
      assert.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
    };
    const { id } = sim.createIncident({ incidentKey: 'shape', service: 'sms-api' });
    const url = `${sim.url}/incidents/${id}`;
    check(
      { type: 'object', required: ['incident'], properties: { incident: INCIDENT_SCHEMA } },
      (await call(url)).body,
      'triggered',
    );
    await call(url, { method: 'PUT', body: put('acknowledged') });
    await call(`${url}/notes`, { method: 'POST', body: { note: { content: 'facts' } } });
    sim.escalate('shape', { by: 'alice@example.com' });
    sim.reassign('shape', 'alice@example.com', 'bob@example.com');
    const note = await call(`${url}/notes`, { method: 'POST', body: { note: { content: 'more' } } });
    check(NOTE_SCHEMA, note.body, 'note');
    check(
      listSchema('incidents', INCIDENT_SCHEMA),
      (await call(`${sim.url}/incidents?incident_key=shape`)).body,
      'list',
    );
    await call(url, { method: 'PUT', body: put('resolved') });
    check({ type: 'object', properties: { incident: INCIDENT_SCHEMA } }, (await call(url)).body, 'resolved');
    const log = await call(`${url}/log_entries`);
    check(listSchema('log_entries', LOG_ENTRY_SCHEMA), log.body, 'log entries');
    // PUT /incidents (several at once): Pagination and the incidents updated.
    const other = sim.createIncident({ incidentKey: 'shape-2', service: 'sms-api' });
    const shared = await call(`${sim.url}/incidents`, {
      method: 'PUT',
      body: {
        incidents: [other.id, sim.createIncident({ incidentKey: 'shape-3', service: 'sms-api' }).id].map(
          (i) => ({
            id: i,
            type: 'incident_reference',
            status: 'acknowledged',
          }),
        ),
      },
    });
    assert.equal(shared.status, 200);
    check(listSchema('incidents', INCIDENT_SCHEMA), shared.body, 'shared update');
    assert.deepEqual(
      (log.body as { log_entries: { type: string }[] }).log_entries.map((e) => e.type).reverse(),
      [
        'trigger_log_entry',
        'acknowledge_log_entry',
        'annotate_log_entry',
        'escalate_log_entry',
        'assign_log_entry',
        'annotate_log_entry',
        'resolve_log_entry',
      ],
    );
    check(listSchema('users', USER_SCHEMA), (await call(`${sim.url}/users?query=lazarus`)).body, 'users');
    check(
      { type: 'object', required: ['user'], properties: { user: USER_SCHEMA } },
      (await call(`${sim.url}/users/me`)).body,
      'me',
    );
    check(ERROR_SCHEMA, (await call(`${sim.url}/incidents/PNOPE00`)).body, '404');
    check(ERROR_SCHEMA, (await call(`${sim.url}/incidents`, { headers: {} })).body, '401');
  });

  test('GET /incidents: statuses[], sort_by, limit, offset and more, as documented', async () => {
    const key = 'paged';
    for (let i = 0; i < 30; i++) {
      sim.createIncident({ incidentKey: key, service: 'sms-api' });
      if (i < 29) sim.resolveAs(key, 'alice@example.com');
    }
    type List = {
      incidents: { id: string; status: string; incident_number: number }[];
      more: boolean;
      limit: number;
    };
    const first = (await call(`${sim.url}/incidents?incident_key=${key}`)).body as List;
    assert.equal(first.limit, 25, 'the first 25 without a limit');
    assert.equal(first.more, true);
    assert.ok(
      first.incidents.every((i) => i.status === 'resolved'),
      'oldest first: the open one is not on it',
    );
    const open = (
      await call(`${sim.url}/incidents?incident_key=${key}&statuses[]=triggered&statuses[]=acknowledged`)
    ).body as List;
    assert.deepEqual(
      open.incidents.map((i) => i.status),
      ['triggered'],
    );
    const newest = (await call(`${sim.url}/incidents?incident_key=${key}&sort_by=created_at:desc&limit=1`))
      .body as List;
    assert.equal(newest.incidents[0]?.status, 'triggered');
    const rest = (await call(`${sim.url}/incidents?incident_key=${key}&offset=25`)).body as List;
    assert.deepEqual([rest.incidents.length, rest.more], [5, false]);
    assert.equal((await call(`${sim.url}/incidents?limit=101`)).status, 400);
    assert.equal((await call(`${sim.url}/incidents?statuses[]=snoozed`)).status, 400);
  });

  test("faults: fail_next, rate limit with PagerDuty's headers, slow, down", async () => {
    sim.failNext(2, 503);
    assert.deepEqual(
      [(await call(`${sim.url}/incidents`)).status, (await call(`${sim.url}/incidents`)).status],
      [503, 503],
    );
    assert.equal((await call(`${sim.url}/incidents`)).status, 200);

    // 960 a minute by default; every answer says how many are left.
    const counted = await call(`${sim.url}/incidents`);
    assert.equal(counted.headers.get('ratelimit-limit'), '960');
    assert.ok(Number(counted.headers.get('ratelimit-remaining')) < 960);
    sim.rateLimit(1, 10_000);
    assert.equal((await call(`${sim.url}/incidents`)).status, 200);
    const limited = await call(`${sim.url}/incidents`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('ratelimit-limit'), '1');
    assert.equal(limited.headers.get('ratelimit-remaining'), '0');
    assert.ok(Number(limited.headers.get('ratelimit-reset')) >= 1);
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
