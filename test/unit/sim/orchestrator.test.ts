import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { httpRequest } from '../../../src/actions/http-request.js';
import { FleetSimulator, type FleetSimulatorOptions } from '../../../src/sim/fleet.js';
import { actionContext } from '../actions/context.js';

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/** One real HTTP request; with `timeoutMs` the client gives up (rejects) when no answer comes in time. */
function call(
  url: string,
  options: { method?: string; body?: unknown; rawBody?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  const payload = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            body: text === '' ? undefined : (JSON.parse(text) as unknown),
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`client timeout after ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function errorOf(reply: Reply): { code: string; message: string } {
  return (reply.body as { error: { code: string; message: string } }).error;
}

/** Polls `probe` until `done` holds; fails with the last value when `deadlineMs` passes. */
async function until<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  deadlineMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline)
      assert.fail(`no ${what} within ${deadlineMs} ms; last: ${JSON.stringify(value)}`);
    await delay(20);
  }
}

interface Clone {
  host: string;
  service: string;
  zone: string;
  health_url: string;
  state: string;
  replaces: string;
  request_id?: string;
}

describe('fleet simulator: orchestrator API', () => {
  let sim: FleetSimulator;
  const start = async (options: FleetSimulatorOptions = {}): Promise<FleetSimulator> => {
    await sim.close();
    sim = await FleetSimulator.start(options);
    return sim;
  };
  const post = (path: string, body: unknown, timeoutMs?: number): Promise<Reply> =>
    call(`${sim.url}${path}`, { body, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  /** host id -> state, as the inventory endpoint lists them. */
  const states = async (service: string): Promise<Record<string, string>> => {
    const reply = await call(`${sim.url}/v1/inventory?service=${service}`);
    assert.equal(reply.status, 200);
    const hosts = (reply.body as { services: Record<string, { hosts: { id: string; state: string }[] }> })
      .services[service]?.hosts;
    return Object.fromEntries((hosts ?? []).map((h) => [h.id, h.state]));
  };

  beforeEach(async () => {
    sim = await FleetSimulator.start({ bootDelayMs: 150 });
  });
  afterEach(async () => {
    await sim.close();
  });

  test('replace flow: remove, clone, wait healthy, add, forensics; the inventory follows each step', async () => {
    // Long enough that the checks made while it boots still see it booting on a loaded machine.
    await start({ bootDelayMs: 1_000 });
    const removed = await post('/v1/lb/remove', { service: 'sms-api', host: 'sms-api-2' });
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body, {
      host: 'sms-api-2',
      service: 'sms-api',
      state: 'out_of_lb',
      in_lb: false,
    });
    assert.deepEqual(
      (await post('/v1/lb/remove', { service: 'sms-api', host: 'sms-api-2' })).body,
      removed.body,
      'lb/remove is idempotent',
    );
    assert.equal((await states('sms-api'))['sms-api-2'], 'out_of_lb');

    const cloned = Date.now();
    const booted = await post('/v1/hosts/clone', {
      service: 'sms-api',
      host: 'sms-api-2',
      request_id: 'evt-1',
    });
    assert.equal(booted.status, 201);
    const clone = booted.body as Clone;
    assert.deepEqual(clone, {
      host: 'sms-api-r1',
      service: 'sms-api',
      zone: 'local-1b', // sms-api-2's zone
      health_url: `${sim.url}/health/sms-api-r1`,
      state: 'booting',
      replaces: 'sms-api-2',
      request_id: 'evt-1',
    });
    assert.equal((await states('sms-api'))['sms-api-r1'], 'booting');
    const early = await call(clone.health_url);
    assert.equal(early.status, 503);
    assert.deepEqual(early.body, { status: 'failing', host: 'sms-api-r1', reason: 'booting' });
    assert.equal((await post('/v1/lb/add', { service: 'sms-api', host: 'sms-api-r1' })).status, 409);

    await until(
      'healthy replacement',
      () => call(clone.health_url),
      (r) => r.status === 200,
    );
    assert.ok(Date.now() - cloned >= 1_000, 'healthy only after the boot delay');
    assert.equal((await states('sms-api'))['sms-api-r1'], 'out_of_lb');

    const added = await post('/v1/lb/add', { service: 'sms-api', host: 'sms-api-r1' });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body, { host: 'sms-api-r1', service: 'sms-api', state: 'active', in_lb: true });
    assert.equal((await post('/v1/lb/add', { service: 'sms-api', host: 'sms-api-r1' })).status, 200);

    const retired = await post('/v1/hosts/forensics', { service: 'sms-api', host: 'sms-api-2' });
    assert.equal(retired.status, 200);
    assert.deepEqual(retired.body, {
      host: 'sms-api-2',
      service: 'sms-api',
      state: 'forensics',
      in_lb: false,
    });
    assert.equal((await call(`${sim.url}/health/sms-api-2`)).status, 503);
    const after = await states('sms-api');
    assert.equal(after['sms-api-2'], 'forensics');
    assert.equal(after['sms-api-r1'], 'active');
    assert.equal(Object.keys(after).length, 7);
    assert.equal(sim.hosts('sms-api').find((h) => h.id === 'sms-api-r1')?.zone, 'local-1b');

    assert.deepEqual(
      sim.orchestratorRequests().map((r) => [r.path, r.status]),
      [
        ['/v1/lb/remove', 200],
        ['/v1/lb/remove', 200],
        ['/v1/hosts/clone', 201],
        ['/v1/lb/add', 409],
        ['/v1/lb/add', 200],
        ['/v1/lb/add', 200],
        ['/v1/hosts/forensics', 200],
      ],
    );
    const overHttp = await call(`${sim.url}/v1/orchestrator/requests?path=/v1/hosts/clone`);
    assert.deepEqual(overHttp.body, sim.clones());
    assert.deepEqual(sim.clones()[0]?.body, { service: 'sms-api', host: 'sms-api-2', request_id: 'evt-1' });
  });

  test('clone is idempotent by request_id: two calls, one host', async () => {
    const body = { service: 'search', host: 'search-4', request_id: 'evt-42' };
    const first = await post('/v1/hosts/clone', body);
    const second = await post('/v1/hosts/clone', body);
    assert.equal(first.status, 201);
    assert.equal(second.status, 200);
    assert.equal((second.body as Clone).host, (first.body as Clone).host);
    assert.equal((second.body as Clone).health_url, (first.body as Clone).health_url);
    assert.deepEqual(
      sim.hosts('search').map((h) => h.id),
      ['search-1', 'search-2', 'search-3', 'search-4', 'search-5', 'search-r1'],
    );
    assert.deepEqual(
      sim.clones().map((c) => [c.body, c.status]),
      [
        [body, 201],
        [body, 200],
      ],
    );
    // A replay answers with the host it booted even if booting would fail now.
    sim.inject({ kind: 'boot_fails' });
    assert.equal((await post('/v1/hosts/clone', body)).status, 200);
    sim.clear();
    // The same request_id for another host is a conflict, not a silent reuse.
    const other = await post('/v1/hosts/clone', {
      service: 'search',
      host: 'search-1',
      request_id: 'evt-42',
    });
    assert.equal(other.status, 409);
    assert.equal(errorOf(other).code, 'request_id_conflict');
    // Without a request_id every call boots.
    assert.equal((await post('/v1/hosts/clone', { service: 'search', host: 'search-4' })).status, 201);
    assert.equal((await post('/v1/hosts/clone', { service: 'search', host: 'search-4' })).status, 201);
    assert.equal(sim.hosts('search').length, 8);
  });

  test('boot_fails: clone answers 500 and boots nothing; only the named service; cleared by DELETE', async () => {
    assert.equal((await post('/v1/faults', { kind: 'boot_fails', service: 'search' })).status, 201);
    const failed = await post('/v1/hosts/clone', { service: 'search', host: 'search-1', request_id: 'a' });
    assert.equal(failed.status, 500);
    assert.equal(errorOf(failed).code, 'boot_failed');
    assert.equal(sim.hosts('search').length, 5);
    assert.equal((await post('/v1/hosts/clone', { service: 'sms-api', host: 'sms-api-1' })).status, 201);
    assert.equal((await call(`${sim.url}/v1/faults`, { method: 'DELETE' })).status, 204);
    // The failed attempt did not claim its request_id: a retry boots.
    const retried = await post('/v1/hosts/clone', { service: 'search', host: 'search-1', request_id: 'a' });
    assert.equal(retried.status, 201);
    assert.deepEqual(
      sim.clones().map((c) => c.status),
      [500, 201, 201],
    );
  });

  test('boot_hangs: no answer to a client that waits 300 ms; close() still returns promptly', async () => {
    sim.inject({ kind: 'boot_hangs' });
    const started = Date.now();
    await assert.rejects(
      post('/v1/hosts/clone', { service: 'ledger-db', host: 'ledger-db-1' }, 300),
      /client timeout after 300 ms/,
    );
    assert.ok(Date.now() - started >= 290);
    assert.deepEqual(
      sim.clones().map((c) => c.status),
      ['no_answer'],
    );
    assert.equal(sim.hosts('ledger-db').length, 6, 'a hung clone boots nothing');
    // A client that never gives up is still waiting when the simulator closes.
    const pending = post('/v1/hosts/clone', { service: 'billing-web', host: 'billing-web-1' });
    await until(
      'the held clone',
      () => Promise.resolve(sim.clones().length),
      (n) => n === 2,
    );
    const closing = Date.now();
    await sim.close();
    assert.ok(Date.now() - closing < 1_000, `close took ${Date.now() - closing} ms`);
    await assert.rejects(pending);
  });

  test('never_healthy: the replacement boots but answers 503 past the boot delay, and lb/add refuses it', async () => {
    await start({ bootDelayMs: 50 });
    sim.inject({ kind: 'never_healthy', service: 'voice-gateway' });
    const booted = await post('/v1/hosts/clone', { service: 'voice-gateway', host: 'voice-gateway-3' });
    assert.equal(booted.status, 201);
    const clone = booted.body as Clone;
    const started = Date.now();
    // Keep polling well past the boot delay: every answer must be a 503.
    const last = await until(
      'four boot delays',
      () => call(clone.health_url),
      (r) => {
        assert.equal(r.status, 503);
        return Date.now() - started > 200;
      },
    );
    assert.equal((last.body as { reason: string }).reason, 'never_healthy');
    assert.equal((await states('voice-gateway'))[clone.host], 'booting');
    const add = await post('/v1/lb/add', { service: 'voice-gateway', host: clone.host });
    assert.equal(add.status, 409);
    assert.equal(errorOf(add).code, 'host_booting');
    // Another service boots normally.
    const other = (await post('/v1/hosts/clone', { service: 'search', host: 'search-1' })).body as Clone;
    await until(
      'healthy search replacement',
      () => call(other.health_url),
      (r) => r.status === 200,
    );
  });

  test('lb/add refuses a host in forensics (409); lb/remove keeps it in forensics', async () => {
    assert.equal((await post('/v1/hosts/forensics', { service: 'search', host: 'search-2' })).status, 200);
    const add = await post('/v1/lb/add', { service: 'search', host: 'search-2' });
    assert.equal(add.status, 409);
    assert.equal(errorOf(add).code, 'host_in_forensics');
    const remove = await post('/v1/lb/remove', { service: 'search', host: 'search-2' });
    assert.deepEqual(remove.body, { host: 'search-2', service: 'search', state: 'forensics', in_lb: false });
    assert.equal((await states('search'))['search-2'], 'forensics');
  });

  test("fencing: a token older than the highest seen for the resource is refused (409) and nothing is done; http.request sends the run's token", async () => {
    const resource = 'host:search/search-2';
    const run = (path: string, token: number): Promise<Record<string, unknown>> =>
      httpRequest.run(
        {
          method: 'POST',
          url: `${sim.url}${path}`,
          body: { service: 'search', host: 'search-2' },
          expect_status: [200],
        },
        actionContext({ fence: { resource, token } }),
      );
    // The newer remediation (token 7) takes the host out of the load balancer.
    assert.equal((await run('/v1/lb/remove', 7))['status'], 200);
    // The older one (token 6, paused while its lock expired and was taken) wakes up: refused.
    await assert.rejects(
      run('/v1/hosts/forensics', 6),
      /409.*stale_fencing_token.*token 6 for host:search\/search-2 is older than 7/s,
    );
    assert.equal((await states('search'))['search-2'], 'out_of_lb', 'the stale call changed nothing');
    // The same token again, a newer one, another resource's own tokens, and a call without a token: served.
    assert.equal((await run('/v1/lb/add', 7))['status'], 200);
    const other = await httpRequest.run(
      { method: 'POST', url: `${sim.url}/v1/lb/remove`, body: { service: 'search', host: 'search-3' } },
      actionContext({ fence: { resource: 'host:search/search-3', token: 1 } }),
    );
    assert.equal(other['status'], 200);
    assert.equal((await post('/v1/lb/add', { service: 'search', host: 'search-3' })).status, 200);
    // Every call is logged with the token it carried.
    const log = sim.orchestratorRequests();
    assert.deepEqual(
      log.map((r) => [r.path, r.status, r.fence?.token, r.fence?.resource]),
      [
        ['/v1/lb/remove', 200, '7', resource],
        ['/v1/hosts/forensics', 409, '6', resource],
        ['/v1/lb/add', 200, '7', resource],
        ['/v1/lb/remove', 200, '1', 'host:search/search-3'],
        ['/v1/lb/add', 200, undefined, undefined],
      ],
    );
    // A token that is not a positive integer, or one without its resource: 400.
    for (const headers of [
      { 'Lazarus-Fencing-Token': 'abc', 'Lazarus-Lock-Resource': resource },
      { 'Lazarus-Fencing-Token': '9' },
    ]) {
      const res = await fetch(`${sim.url}/v1/lb/remove`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ service: 'search', host: 'search-2' }),
      });
      assert.equal(res.status, 400);
      assert.match(
        ((await res.json()) as { error: { message: string } }).error.message,
        /Lazarus-Fencing-Token must be a positive integer/,
      );
    }
  });

  test('bad requests: 400 naming the field, 404 for an unknown service or host', async () => {
    const cases: [string, unknown, number, string, string][] = [
      ['/v1/lb/remove', { service: 'search' }, 400, 'invalid_request', 'body.host'],
      ['/v1/lb/add', { service: '', host: 'search-1' }, 400, 'invalid_request', 'body.service'],
      [
        '/v1/hosts/clone',
        { service: 'search', host: 'search-1', request_id: 7 },
        400,
        'invalid_request',
        'body.request_id',
      ],
      [
        '/v1/hosts/clone',
        { service: 'search', host: 'search-1', hostname: 'x' },
        400,
        'invalid_request',
        'body.hostname',
      ],
      ['/v1/hosts/forensics', ['search-1'], 400, 'invalid_request', 'body'],
      ['/v1/services/search/promote-standby', {}, 400, 'invalid_request', 'body.failed_host'],
      ['/v1/services/search/allocation/exclude', { hosts: ['a'] }, 400, 'invalid_request', 'body.hosts'],
      ['/v1/lb/remove', { service: 'nope', host: 'search-1' }, 404, 'unknown_service', '"nope"'],
      ['/v1/lb/remove', { service: 'search', host: 'search-99' }, 404, 'unknown_host', '"search-99"'],
      ['/v1/hosts/clone', { service: 'search', host: 'sms-api-1' }, 404, 'unknown_host', '"sms-api-1"'],
      ['/v1/services/nope/promote-standby', { failed_host: 'x' }, 404, 'unknown_service', '"nope"'],
    ];
    for (const [path, body, status, code, field] of cases) {
      const reply = await post(path, body);
      assert.equal(reply.status, status, `${path} ${JSON.stringify(body)}`);
      assert.equal(errorOf(reply).code, code);
      assert.ok(errorOf(reply).message.includes(field), errorOf(reply).message);
    }
    const notJson = await call(`${sim.url}/v1/lb/add`, { method: 'POST', rawBody: '{"service":' });
    assert.equal(notJson.status, 400);
    assert.equal(errorOf(notJson).code, 'invalid_json');
    const tooBig = await call(`${sim.url}/v1/lb/add`, { method: 'POST', rawBody: 'x'.repeat(65 * 1024) });
    assert.equal(tooBig.status, 413);
    // Every call is logged, refused ones included; the fleet did not change.
    assert.equal(sim.orchestratorRequests().length, cases.length + 2);
    assert.equal(sim.orchestratorRequests().at(-2)?.body, '{"service":');
    assert.ok(sim.hosts().every((h) => h.state === 'active'));
    assert.equal((await call(`${sim.url}/v1/lb/add`)).status, 404, 'GET is no orchestrator call');
  });

  test('promote-standby picks a healthy standby; allocation/exclude marks the host', async () => {
    sim.inject({ kind: 'host_down', host: 'billing-web-2' });
    const none = await post('/v1/services/billing-web/promote-standby', { failed_host: 'billing-web-1' });
    assert.equal(none.status, 409);
    assert.equal(errorOf(none).code, 'no_standby');
    sim.clear();
    await post('/v1/lb/remove', { service: 'search', host: 'search-4' });
    const promoted = await post('/v1/services/search/promote-standby', { failed_host: 'search-1' });
    assert.equal(promoted.status, 200);
    assert.deepEqual(promoted.body, {
      host: 'search-4',
      service: 'search',
      zone: 'local-1a',
      health_url: `${sim.url}/health/search-4`,
      state: 'active',
      replaces: 'search-1',
    });
    assert.equal((await call((promoted.body as Clone).health_url)).status, 200);
    assert.equal((await states('search'))['search-1'], 'out_of_lb');

    const excluded = await post('/v1/services/search/allocation/exclude', { host: 'search-3' });
    assert.equal(excluded.status, 200);
    assert.deepEqual(excluded.body, { host: 'search-3', service: 'search', excluded: true });
    assert.equal((await post('/v1/services/search/allocation/exclude', { host: 'search-3' })).status, 200);
    assert.deepEqual(sim.excludedHosts(), ['search-3']);
  });

  test('clone echoes role and replace_address; replacements are numbered per service', async () => {
    const standby = await post('/v1/hosts/clone', {
      service: 'ledger-db',
      host: 'ledger-db-5',
      role: 'standby',
    });
    assert.equal((standby.body as Clone).host, 'ledger-db-r1');
    assert.equal((standby.body as { role: string }).role, 'standby');
    const cassandra = await post('/v1/hosts/clone', {
      service: 'ledger-db',
      host: 'ledger-db-6',
      replace_address: 'ledger-db-6',
    });
    assert.equal((cassandra.body as Clone).host, 'ledger-db-r2');
    assert.equal((cassandra.body as { replace_address: string }).replace_address, 'ledger-db-6');
    assert.equal((cassandra.body as Clone).zone, 'local-1c');
    // A replacement is a host like any other: it can be cloned and faulted.
    const again = await post('/v1/hosts/clone', { service: 'ledger-db', host: 'ledger-db-r2' });
    assert.equal((again.body as Clone).host, 'ledger-db-r3');
    assert.equal((await post('/v1/faults', { kind: 'host_down', host: 'ledger-db-r3' })).status, 201);
  });

  test('boot delay: options, setBootDelay() and POST /v1/orchestrator/config', async () => {
    assert.equal(sim.bootDelayMs, 150);
    sim.setBootDelay(0);
    assert.deepEqual((await call(`${sim.url}/v1/orchestrator/config`)).body, { boot_delay_ms: 0 });
    const set = await post('/v1/orchestrator/config', { boot_delay_ms: 250 });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body, { boot_delay_ms: 250 });
    assert.equal(sim.bootDelayMs, 250);
    for (const bad of [
      { boot_delay_ms: -1 },
      { boot_delay_ms: '5s' },
      { boot_delay_ms: 1.5 },
      { delay: 5 },
    ]) {
      const reply = await post('/v1/orchestrator/config', bad);
      assert.equal(reply.status, 400, JSON.stringify(bad));
      assert.match(errorOf(reply).message, /body\.(boot_delay_ms|delay)/);
    }
    assert.equal(sim.bootDelayMs, 250);
    assert.throws(() => sim.setBootDelay(-5), /bootDelayMs/);
    await assert.rejects(FleetSimulator.start({ bootDelayMs: Number.NaN }), /bootDelayMs/);
    assert.deepEqual(sim.orchestratorRequests(), [], 'config calls are not orchestrator calls');
    // Defaults to 500 ms.
    await start();
    assert.equal(sim.bootDelayMs, 500);
  });

  test('orchestrator faults: optional service, validated, listed and deduplicated like the others', async () => {
    const cases: [unknown, string][] = [
      [{ kind: 'boot_fails', service: 'nope' }, 'fault.service'],
      [{ kind: 'boot_hangs', service: '' }, 'fault.service'],
      [{ kind: 'never_healthy', host: 'search-1' }, 'fault.host'],
    ];
    for (const [fault, field] of cases) {
      const reply = await post('/v1/faults', fault);
      assert.equal(reply.status, 400, JSON.stringify(fault));
      assert.ok(errorOf(reply).message.includes(field), errorOf(reply).message);
    }
    await post('/v1/faults', { kind: 'boot_hangs' });
    await post('/v1/faults', { kind: 'boot_hangs' });
    sim.inject({ kind: 'never_healthy', service: 'search' });
    assert.deepEqual((await call(`${sim.url}/v1/faults`)).body, [
      { kind: 'boot_hangs' },
      { kind: 'never_healthy', service: 'search' },
    ]);
  });
});
