import { strict as assert } from 'node:assert';
import { Agent, request } from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';
import { FleetSimulator, instanceIdOf, LOCAL_FLEET, type Fault } from '../../../src/sim/fleet.js';

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/** One real HTTP request; `localAddress` picks the source address, as a controller node does. */
function call(
  url: string,
  options: { method?: string; body?: unknown; rawBody?: string; localAddress?: string; agent?: Agent } = {},
): Promise<Reply> {
  const payload = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
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
    req.on('error', reject);
    req.end(payload);
  });
}

function errorOf(reply: Reply): { code: string; message: string } {
  return (reply.body as { error: { code: string; message: string } }).error;
}

describe('fleet simulator', () => {
  let sim: FleetSimulator;
  const health = (host: string, localAddress?: string): Promise<Reply> =>
    call(`${sim.url}/health/${host}`, localAddress === undefined ? {} : { localAddress });
  const postFault = (fault: unknown): Promise<Reply> =>
    call(`${sim.url}/v1/faults`, { method: 'POST', body: fault });

  before(async () => {
    sim = await FleetSimulator.start();
  });
  after(async () => {
    await sim.close();
  });
  afterEach(() => {
    sim.clear();
    for (const host of sim.hosts()) host.state = 'active';
  });

  test('listens on 127.0.0.1 on a free port', () => {
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(sim.port > 0);
    assert.equal(sim.url, `http://127.0.0.1:${sim.port}`);
  });

  test('inventory lists every service and host with zone, state, health URL and instance id', async () => {
    const reply = await call(`${sim.url}/v1/inventory`);
    assert.equal(reply.status, 200);
    const services = (reply.body as { services: Record<string, { hosts: Record<string, string>[] }> })
      .services;
    assert.deepEqual(Object.keys(services), Object.keys(LOCAL_FLEET.services));
    for (const [service, count] of Object.entries(LOCAL_FLEET.services)) {
      assert.equal(services[service]?.hosts.length, count, service);
    }
    const sms = services['sms-api']?.hosts ?? [];
    assert.deepEqual(sms[0], {
      id: 'sms-api-1',
      zone: 'local-1a',
      state: 'active',
      health_url: `${sim.url}/health/sms-api-1`,
      instance_id: instanceIdOf('sms-api-1'),
    });
    // Every host is an EC2 instance of its own (how AWS events find their host).
    assert.match(sms[0]?.['instance_id'] ?? '', /^i-[0-9a-f]{17}$/);
    assert.equal(new Set(sms.map((h) => h['instance_id'])).size, sms.length);
    // Zones round-robin per service.
    assert.deepEqual(
      sms.map((h) => h['zone']),
      ['local-1a', 'local-1b', 'local-1c', 'local-1a', 'local-1b', 'local-1c'],
    );
  });

  test('inventory narrows to one service, 404 for an unknown one', async () => {
    const one = await call(`${sim.url}/v1/inventory?service=billing-web`);
    assert.equal(one.status, 200);
    const services = (one.body as { services: Record<string, { hosts: { id: string }[] }> }).services;
    assert.deepEqual(Object.keys(services), ['billing-web']);
    assert.deepEqual(
      services['billing-web']?.hosts.map((h) => h.id),
      ['billing-web-1', 'billing-web-2'],
    );
    const unknown = await call(`${sim.url}/v1/inventory?service=nope`);
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).code, 'unknown_service');
  });

  test('a healthy host answers 200; an unknown host 404; an unknown route 404', async () => {
    const ok = await health('search-3');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { status: 'ok', host: 'search-3' });
    const unknown = await health('search-99');
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).code, 'unknown_host');
    const route = await call(`${sim.url}/v2/nothing`);
    assert.equal(route.status, 404);
    assert.equal(errorOf(route).code, 'not_found');
  });

  test('host_down: that host answers 503, its neighbours stay healthy', async () => {
    const created = await postFault({ kind: 'host_down', host: 'sms-api-2' });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, { kind: 'host_down', host: 'sms-api-2' });
    const down = await health('sms-api-2');
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, { status: 'failing', host: 'sms-api-2', reason: 'host_down' });
    assert.equal((await health('sms-api-1')).status, 200);
  });

  test('downstream: every host of the service answers 503, other services 200', async () => {
    sim.inject({ kind: 'downstream', service: 'voice-gateway' });
    for (const host of sim.hosts('voice-gateway')) {
      assert.equal((await health(host.id)).status, 503, host.id);
    }
    assert.equal((await health('search-1')).status, 200);
    assert.equal((await health('ledger-db-6')).status, 200);
  });

  test('a host in forensics answers 503', async () => {
    const [host] = sim.hosts('ledger-db');
    assert.ok(host);
    host.state = 'forensics';
    const reply = await health(host.id);
    assert.equal(reply.status, 503);
    assert.equal((reply.body as { reason: string }).reason, 'forensics');
  });

  test('unreachable from 127.0.0.2: that source gets a dropped socket, others get 200', async () => {
    assert.equal((await postFault({ kind: 'unreachable', host: 'search-2', from: '127.0.0.2' })).status, 201);
    await assert.rejects(health('search-2', '127.0.0.2'), (error: NodeJS.ErrnoException) => {
      assert.ok(error.code === 'ECONNRESET' || error.message === 'socket hang up', String(error));
      return true;
    });
    assert.equal((await health('search-2', '127.0.0.1')).status, 200);
    assert.equal((await health('search-2', '127.0.0.3')).status, 200);
    // Only that host is cut off from 127.0.0.2.
    assert.equal((await health('search-1', '127.0.0.2')).status, 200);
  });

  test('the health-request log records each source address (all of 127.0.0.0/8 reaches the server)', async () => {
    sim.inject({ kind: 'unreachable', host: 'billing-web-2', from: '127.0.0.3' });
    await health('billing-web-2', '127.0.0.1');
    await health('billing-web-2', '127.0.0.2');
    await assert.rejects(health('billing-web-2', '127.0.0.3'));
    const log = sim.healthRequests('billing-web-2');
    assert.deepEqual(
      log.map((r) => [r.from, r.status]),
      [
        ['127.0.0.1', 200],
        ['127.0.0.2', 200],
        ['127.0.0.3', 'dropped'],
      ],
    );
    assert.ok(log.every((r) => r.host === 'billing-web-2' && typeof r.at === 'number'));
    const overHttp = await call(`${sim.url}/v1/health-requests?host=billing-web-2`);
    assert.equal(overHttp.status, 200);
    assert.deepEqual(overHttp.body, log);
  });

  test('invalid faults are refused with 400 and a message naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ kind: 'meteor', host: 'search-1' }, 'fault.kind'],
      [{ kind: 'host_down' }, 'fault.host'],
      [{ kind: 'host_down', host: 'search-99' }, 'fault.host'],
      [{ kind: 'downstream', service: 'nope' }, 'fault.service'],
      [{ kind: 'unreachable', host: 'search-1' }, 'fault.from'],
      [{ kind: 'unreachable', host: 'search-1', from: 'somewhere' }, 'fault.from'],
      [{ kind: 'host_down', hostname: 'search-1' }, 'fault.hostname'],
      [['host_down'], 'fault'],
    ];
    for (const [fault, field] of cases) {
      const reply = await postFault(fault);
      assert.equal(reply.status, 400, JSON.stringify(fault));
      assert.equal(errorOf(reply).code, 'invalid_fault');
      assert.ok(errorOf(reply).message.includes(field), errorOf(reply).message);
    }
    const notJson = await call(`${sim.url}/v1/faults`, { method: 'POST', rawBody: '{"kind":' });
    assert.equal(notJson.status, 400);
    assert.equal(errorOf(notJson).code, 'invalid_json');
    const tooBig = await call(`${sim.url}/v1/faults`, { method: 'POST', rawBody: 'x'.repeat(65 * 1024) });
    assert.equal(tooBig.status, 413);
    assert.deepEqual(sim.faults(), []);
    assert.throws(
      () => sim.inject({ kind: 'host_down', host: 'nope-1' }),
      /fault\.host: unknown host "nope-1"/,
    );
  });

  test('GET lists faults once each; DELETE clears them all', async () => {
    const faults: Fault[] = [
      { kind: 'host_down', host: 'sms-api-1' },
      { kind: 'downstream', service: 'search' },
    ];
    for (const fault of faults) await postFault(fault);
    sim.inject({ kind: 'host_down', host: 'sms-api-1' });
    const listed = await call(`${sim.url}/v1/faults`);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, faults);
    const deleted = await call(`${sim.url}/v1/faults`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.deepEqual((await call(`${sim.url}/v1/faults`)).body, []);
    assert.deepEqual(sim.faults(), []);
    assert.equal((await health('sms-api-1')).status, 200);
    assert.equal((await health('search-1')).status, 200);
  });
});

describe('fleet simulator lifecycle', () => {
  test('custom spec and port; close does not wait for a keep-alive client', async () => {
    const probe = await FleetSimulator.start({ spec: { services: { web: 1 } } });
    const port = probe.port;
    await probe.close();
    const sim = await FleetSimulator.start({ spec: { services: { web: 4 }, zones: ['z1', 'z2'] }, port });
    const agent = new Agent({ keepAlive: true });
    try {
      assert.equal(sim.port, port);
      assert.deepEqual(
        sim.hosts().map((h) => `${h.id}@${h.zone}`),
        ['web-1@z1', 'web-2@z2', 'web-3@z1', 'web-4@z2'],
      );
      assert.equal((await call(`${sim.url}/health/web-1`, { agent })).status, 200);
      // The agent keeps its socket open; close() must still finish well before any keep-alive timeout.
      const started = Date.now();
      await sim.close();
      assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
      await assert.rejects(call(`${sim.url}/health/web-1`));
    } finally {
      agent.destroy();
      await sim.close();
    }
  });

  test('a bad spec is refused', async () => {
    await assert.rejects(FleetSimulator.start({ spec: { services: { web: 1.5 } } }), /whole number/);
    await assert.rejects(FleetSimulator.start({ spec: { services: { web: 1 }, zones: [] } }), /no zones/);
  });
});
