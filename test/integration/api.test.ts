/**
 * The REST API of a node against a real redis-server: records written in the real shapes by the real
 * writers (DecisionStore, RedisRunStore, the rejected list) under a fresh key prefix, the server
 * bound to port 0 with the shipped local configuration, and plain HTTP requests.
 *
 * The one stand-in is `put`: the server is handed a function that appends to an array instead of a
 * Kinesis client. That array is the test's sink for `POST /v1/events`: what this test is about is
 * the API's validation, auth, limits and answer, not Kinesis (the cluster tests put events on a real
 * kinesis-local stream).
 */
import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { ApiErrorCodes } from '../../src/api/errors.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { ApiServer } from '../../src/api/server.js';
import type { ApiServerOptions } from '../../src/api/server.js';
import type { EventSummary } from '../../src/audit/summary.js';
import { eventCommand, eventsCommand } from '../../src/cli/events.js';
import type { RedisKeys } from '../../src/common/keys.js';
import { configDir } from '../../src/common/package-root.js';
import { loadConfigOrThrow } from '../../src/config/load.js';
import type { CompiledConfig } from '../../src/config/types.js';
import { defaultCatalog } from '../../src/controller/catalog.js';
import type { DecisionRecord, EscalationReason } from '../../src/records/decision.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { freePort } from '../../src/sim/ports.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { parseExposition } from '../helpers/prometheus.js';
import { freshKeys, writeDecisions, writeRejected, writeRun } from '../unit/api/fixtures.js';
import type { DecisionSpec } from '../unit/api/fixtures.js';

const TOKEN = 'test-token-0123456789';
const REASONS: EscalationReason[] = [
  'stale',
  'no_rule',
  'breaker_open',
  'rate_limited',
  'checks_failed',
  'no_quorum',
  'timeout',
  'lock_held',
  'dependency_down',
];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function errorCode(a: Answer): string | undefined {
  return (a.json as { error?: { code?: string } } | undefined)?.error?.code;
}

/** A valid event, as a sensor writes it. */
function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `post-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    type: 'NagiosHostAlarm',
    source: 'test',
    time: new Date().toISOString(),
    environment: 'prod',
    service: 'sms-api',
    host: 'sms-api-3',
    data: { host_state: 'DOWN', host_state_type: 'HARD' },
    ...overrides,
  };
}

describe('REST API', { timeout: 60_000 }, () => {
  let server: RedisProcess;
  let redis: Redis;
  let keys: RedisKeys;
  let config: CompiledConfig;
  let api: ApiServer;
  let guarded: ApiServer;
  let base: string;
  let metrics: Metrics;
  let consoleDir: string;
  let state = 'running';
  let putFails = false;
  const sink: { data: Buffer; key: string }[] = [];
  let act: DecisionSpec;
  let specs: DecisionSpec[];
  let actRecord: DecisionRecord;
  const byId = new Map<string, DecisionRecord>();

  before(async () => {
    server = await startRedis();
    redis = await connectRedis(server.url, { connectionName: 'api-test' });
    keys = freshKeys();
    config = await loadConfigOrThrow(configDir(undefined), defaultCatalog());
    const now = Date.now();
    act = { id: 'ev-act', decidedAt: now - 1000, host: 'sms-api-1', node: 'a' };

    // One act with a run, one escalation per reason, duplicates, and filler to page through.
    specs = [
      act,
      ...REASONS.map((reason, i) => ({
        id: `ev-${reason}`,
        decidedAt: now - 2000 - i * 10,
        reason,
        service: 'voice-gateway',
        host: `vg-${i}`,
      })),
      { id: 'ev-dup', decidedAt: now - 3000, decision: 'duplicate' },
      ...Array.from({ length: 40 }, (_, i) => ({
        id: `ev-fill-${String(i).padStart(2, '0')}`,
        decidedAt: now - 10_000 - Math.floor(i / 3),
        service: i % 2 === 0 ? 'search' : 'billing-web',
        host: `h-${i % 4}`,
      })),
    ];
    const records = await writeDecisions(redis, keys, specs);
    actRecord = records[0]!;
    for (const r of records) byId.set(r.event_id, r);
    await writeRun(redis, keys, actRecord, 'succeeded');
    await writeRejected(redis, keys, '{"service":"sms-api","host":"x"', { code: 'LZ_ERR_EVENT_NOT_JSON' });

    // The region's live state: heartbeats, leases, a checkpoint, the breaker, a rate window.
    await redis
      .multi()
      .zadd(keys.members, now - 500, 'a', now - 1500, 'b', now - 600_000, 'c')
      .set(keys.lease('shardId-000000000000'), 'a:1f2e3d', 'PX', 60_000)
      .set(keys.lease('shardId-000000000001'), 'b:4c5b6a', 'PX', 60_000)
      .set(keys.checkpoint('shardId-000000000000'), '49600000000000000001')
      .set(keys.breakerState, `open:${now - 5000}`)
      .lpush(
        keys.breakerHistory,
        JSON.stringify({ state: 'open', at: now - 5000, services: ['x', 'y'], count: 11 }),
      )
      .zadd(keys.breakerWindow, now - 1000, 'x', now - 2000, 'y')
      .zadd(
        keys.rateWindow('sms-api'),
        now - 1000,
        'r1',
        now - 2000,
        'r2',
        now - 3000,
        'r3',
        now - 3_600_000,
        'old',
      )
      .exec();

    consoleDir = await mkdtemp(join(tmpdir(), 'lazarus-console-'));
    await mkdir(join(consoleDir, 'site'));
    await writeFile(join(consoleDir, 'site', 'index.html'), '<!doctype html><title>Lazarus</title>');
    await writeFile(join(consoleDir, 'site', 'app.js'), 'console.log("console");');
    await writeFile(join(consoleDir, 'secret.txt'), 'outside the console directory');

    metrics = new Metrics();
    const options: ApiServerOptions = {
      listen: '127.0.0.1:0',
      redis,
      keys,
      config,
      metrics,
      put: (data, key) => {
        if (putFails) return Promise.reject(new Error('stream unreachable'));
        sink.push({ data: Buffer.from(data), key });
        return Promise.resolve();
      },
      state: () => state,
      token: TOKEN,
      nodeId: 'a',
      consoleDir: join(consoleDir, 'site'),
    };
    api = await ApiServer.start(options);
    base = api.url;
    guarded = await ApiServer.start({
      ...options,
      metrics: new Metrics({ defaultMetrics: false }),
      protectReads: true,
      shards: () => ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002'],
      tokens: [
        { name: 'dashboard', token: 'read-only-token', roles: ['read'] },
        { name: 'nagios', token: 'submit-only-token', roles: ['submit'] },
        { name: 'unset', token: '', roles: ['read', 'submit'] },
      ],
    });
  });

  after(async () => {
    await api?.stop();
    await guarded?.stop();
    redis?.disconnect();
    await server?.stop();
    if (consoleDir !== undefined) await rm(consoleDir, { recursive: true, force: true });
  });

  test('binds the port it was given (0: a free one) and exposes it', () => {
    assert.ok(api.port > 0);
    assert.equal(base, `http://127.0.0.1:${api.port}`);
  });

  test('GET /v1/events: newest first; filters by service, host, status, reason, time', async () => {
    const all = await call(base, '/v1/events?limit=500');
    assert.equal(all.status, 200);
    const items = (all.json as { items: EventSummary[]; next?: string }).items;
    assert.equal(items.length, specs.length);
    assert.equal((all.json as { next?: string }).next, undefined);
    assert.equal(items[0]?.id, 'ev-act');
    assert.equal(items[0]?.run, 'succeeded');
    assert.equal(items[0]?.coordinator, 'a');
    const times = items.map((e) => Date.parse(e.decided_at));
    assert.deepEqual(
      times,
      [...times].sort((x, y) => y - x),
    );

    const ids = async (query: string): Promise<string[]> => {
      const a = await call(base, `/v1/events?${query}`);
      assert.equal(a.status, 200, `${query}: ${a.text}`);
      return (a.json as { items: EventSummary[] }).items.map((e) => e.id);
    };
    assert.deepEqual(
      await ids('service=voice-gateway&limit=100'),
      REASONS.map((r) => `ev-${r}`),
    );
    assert.deepEqual(await ids('status=escalate&reason=lock_held'), ['ev-lock_held']);
    assert.deepEqual(await ids('status=duplicate'), ['ev-dup']);
    // Expected from the records themselves, in the order of the unfiltered list.
    const order = items.map((e) => e.id);
    const where = (keep: (d: DecisionRecord) => boolean): string[] =>
      order.filter((id) => keep(byId.get(id)!));
    assert.deepEqual(
      await ids('status=act&limit=100'),
      where((d) => d.decision === 'act'),
    );
    assert.equal((await ids('status=act&limit=100'))[0], 'ev-act');
    assert.deepEqual(await ids('host=vg-3'), ['ev-rate_limited']);
    assert.deepEqual(
      await ids('service=search&host=h-2&limit=100'),
      where((d) => d.service === 'search' && d.host === 'h-2'),
    );
    assert.equal((await ids('service=search&host=h-2&limit=100')).length, 10);
    const since = new Date(act.decidedAt - 5000).toISOString();
    assert.equal((await ids(`since=${encodeURIComponent(since)}&limit=100`)).length, 1 + REASONS.length + 1);
    assert.deepEqual(await ids(`until=${act.decidedAt - 995}&since=${act.decidedAt - 1005}`), ['ev-stale']);
    assert.deepEqual(
      await ids('service=&status='),
      (await ids('')).slice(0, 50),
      'empty values are no filter',
    );
    const rejected = (await call(base, '/v1/events?status=rejected')).json as { items: EventSummary[] };
    assert.equal(rejected.items.length, 1);
    assert.equal(rejected.items[0]?.reason, 'LZ_ERR_EVENT_NOT_JSON');
  });

  test('GET /v1/events: pages with a cursor have no duplicates and no gaps', async () => {
    const full = ((await call(base, '/v1/events?limit=500')).json as { items: EventSummary[] }).items.map(
      (e) => e.id,
    );
    for (const query of ['limit=3', 'limit=7&service=search', 'limit=2&status=escalate']) {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 100; page++) {
        const a = await call(base, `/v1/events?${query}${cursor === undefined ? '' : `&cursor=${cursor}`}`);
        assert.equal(a.status, 200);
        const body = a.json as { items: EventSummary[]; next?: string };
        seen.push(...body.items.map((e) => e.id));
        if (body.next === undefined) break;
        cursor = body.next;
      }
      const single = (
        (await call(base, `/v1/events?${query.replace(/limit=\d+/, 'limit=500')}`)).json as {
          items: EventSummary[];
        }
      ).items.map((e) => e.id);
      assert.deepEqual(seen, single, query);
      assert.equal(new Set(seen).size, seen.length, `${query}: duplicates`);
      assert.deepEqual(
        seen,
        full.filter((id) => single.includes(id)),
        `${query}: order or gaps`,
      );
    }
  });

  test('400 for a bad filter, a bad cursor, an unknown parameter', async () => {
    for (const query of [
      'status=maybe',
      'reason=because',
      'limit=0',
      'limit=501',
      'limit=ten',
      'since=yesterday',
      'since=2000&until=1000',
      'colour=red',
      'service=a&service=b',
      'cursor=not-a-cursor',
    ]) {
      const a = await call(base, `/v1/events?${query}`);
      assert.equal(a.status, 400, query);
      assert.equal(errorCode(a), ApiErrorCodes.BAD_REQUEST, query);
      assert.ok(a.headers.get('content-type')?.startsWith('application/json'));
    }
    const problems = (await call(base, '/v1/events?status=maybe&limit=0')).json as {
      error: { errors: { path: string }[] };
    };
    assert.deepEqual(
      problems.error.errors.map((e) => e.path),
      ['status', 'limit'],
    );
  });

  test('GET /v1/events/{id}: the decision with every vote and check, and the run with its steps', async () => {
    const a = await call(base, '/v1/events/ev-act');
    assert.equal(a.status, 200);
    const body = a.json as {
      decision: DecisionRecord;
      run: { status: string; steps: Record<string, { status: string }> };
    };
    assert.deepEqual(body.decision, actRecord);
    assert.deepEqual(
      body.decision.votes.map((v) => [v.node, v.pass, v.checks.length]),
      [
        ['a', true, 2],
        ['b', true, 2],
        ['c', true, 2],
      ],
    );
    assert.equal(body.decision.gates?.rate?.allowed, true);
    assert.equal(body.decision.lock?.acquired, true);
    assert.equal(body.run.status, 'succeeded');
    assert.deepEqual(Object.fromEntries(Object.entries(body.run.steps).map(([id, s]) => [id, s.status])), {
      acknowledge: 'skipped',
      lb_out: 'succeeded',
      boot: 'succeeded',
      verify: 'succeeded',
    });
    for (const reason of REASONS) {
      const e = await call(base, `/v1/events/ev-${reason}`);
      assert.equal(e.status, 200, reason);
      const trace = e.json as { decision: DecisionRecord; run: unknown };
      assert.equal(trace.decision.decision, 'escalate');
      assert.equal(trace.decision.reason, reason);
      assert.ok((trace.decision.reason_text ?? '').length > 0);
      assert.equal(trace.run, null);
    }
    const rejectedId = ((await call(base, '/v1/events?status=rejected')).json as { items: EventSummary[] })
      .items[0]?.id;
    const r = await call(base, `/v1/events/${encodeURIComponent(rejectedId ?? '')}`);
    assert.equal(r.status, 200);
    assert.equal((r.json as { rejected: { code: string } }).rejected.code, 'LZ_ERR_EVENT_NOT_JSON');
  });

  test('404 for an unknown event and an unknown route; 405 for a wrong method', async () => {
    const unknown = await call(base, '/v1/events/no-such-event');
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), ApiErrorCodes.NOT_FOUND);
    for (const path of ['/v1/nothing', '/v1/events/a/b', '/v2/events', '/nothing.html']) {
      const a = await call(base, path);
      assert.equal(a.status, 404, path);
      assert.equal(errorCode(a), ApiErrorCodes.NOT_FOUND, path);
    }
    const del = await call(base, '/v1/events', { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.equal(errorCode(del), ApiErrorCodes.METHOD_NOT_ALLOWED);
    assert.equal(del.headers.get('allow'), 'GET, HEAD, POST');
  });

  test('POST /v1/events: 401 without the token, 400 with the errors, 413 when too large, 202 {id}', async () => {
    const post = (body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> =>
      call(base, '/v1/events', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const good = event();

    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }]) {
      const a = await post(JSON.stringify(good), headers);
      assert.equal(a.status, 401, JSON.stringify(headers));
      assert.equal(errorCode(a), ApiErrorCodes.UNAUTHORIZED);
      assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer/);
    }

    const invalid = await post(JSON.stringify(event({ time: 'now', colour: 'red' })), auth);
    assert.equal(invalid.status, 400);
    const err = (invalid.json as { error: { code: string; event_code: string; errors: { path: string }[] } })
      .error;
    assert.equal(err.code, ApiErrorCodes.BAD_REQUEST);
    assert.equal(err.event_code, 'LZ_ERR_EVENT_INVALID');
    assert.deepEqual(err.errors.map((e) => e.path).sort(), ['', '/time']);
    const notJson = await post('{"id":', auth);
    assert.equal(notJson.status, 400);
    assert.equal(
      (notJson.json as { error: { event_code: string } }).error.event_code,
      'LZ_ERR_EVENT_NOT_JSON',
    );

    const max = config.region.events.maxBytes;
    const huge = JSON.stringify(event({ data: { pad: 'x'.repeat(max) } }));
    const tooLarge = await post(huge, auth);
    assert.equal(tooLarge.status, 413);
    assert.equal(errorCode(tooLarge), ApiErrorCodes.TOO_LARGE);
    // The same without Content-Length (chunked): refused once the bytes pass the limit.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/v1/events`, { method: 'POST', headers: auth }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      for (let i = 0; i < Math.ceil((max + 1) / 4096); i++) req.write('x'.repeat(4096));
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.equal(
      (JSON.parse(chunked.body) as { error: { code: string } }).error.code,
      ApiErrorCodes.TOO_LARGE,
    );
    assert.equal(sink.length, 0, 'nothing refused reached the stream');

    const accepted = await post(JSON.stringify(good), auth);
    assert.equal(accepted.status, 202);
    assert.deepEqual(accepted.json, { id: good['id'] });
    assert.equal(sink.length, 1);
    assert.equal(sink[0]?.key, 'sms-api/sms-api-3');
    // On the stream: the event as posted, stamped with who submitted it (the legacy token's name).
    assert.deepEqual(JSON.parse(sink[0]?.data.toString('utf8') ?? ''), {
      ...good,
      submitted_by: { via: 'api', token: 'default', node: 'a' },
    });
    // A stamp the client wrote is the API's to write: replaced, not trusted, not a 400.
    const claims = event({ submitted_by: { via: 'api', token: 'nagios', node: 'c' } });
    assert.equal((await post(JSON.stringify(claims), auth)).status, 202);
    assert.deepEqual(
      (JSON.parse(sink[1]?.data.toString('utf8') ?? '') as { submitted_by?: unknown }).submitted_by,
      { via: 'api', token: 'default', node: 'a' },
    );

    putFails = true;
    try {
      const down = await post(JSON.stringify(event()), auth);
      assert.equal(down.status, 503);
      assert.equal(errorCode(down), ApiErrorCodes.UNAVAILABLE);
    } finally {
      putFails = false;
    }
  });

  test('reads need the token when they are protected; probes and the console stay open', async () => {
    const g = guarded.url;
    for (const path of ['/v1/events', '/v1/events/ev-act', '/v1/services', '/v1/cluster', '/metrics']) {
      const a = await call(g, path);
      assert.equal(a.status, 401, path);
      assert.equal(errorCode(a), ApiErrorCodes.UNAUTHORIZED);
      const ok = await call(g, path, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200, path);
    }
    assert.equal((await call(g, '/healthz')).status, 200);
    assert.equal((await call(g, '/readyz')).status, 200);
    assert.equal((await call(g, '/')).status, 200);
    // Open reads on the other server.
    assert.equal((await call(base, '/v1/events')).status, 200);
  });

  test('roles: 401 without a valid token, 403 with a valid one of the wrong role; each token its own', async () => {
    const g = guarded.url;
    const as = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
    const post = (token?: string): Promise<Answer> =>
      call(g, '/v1/events', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify({
          ...event(),
          id: `ev-role-${token ?? 'none'}-${Math.random().toString(36).slice(2, 8)}`,
        }),
      });
    // Reading: the read token and the all-roles one; the submit-only token is refused with 403.
    assert.equal((await call(g, '/v1/events', as('read-only-token'))).status, 200);
    const submitReads = await call(g, '/v1/events', as('submit-only-token'));
    assert.equal(submitReads.status, 403);
    assert.equal(errorCode(submitReads), ApiErrorCodes.FORBIDDEN);
    assert.match(submitReads.text, /token nagios may submit; this needs the read role/);
    // Submitting: the submit token and the all-roles one; the read-only token is refused with 403.
    // Each event goes on the stream stamped with its own token's name.
    const before = sink.length;
    assert.equal((await post('submit-only-token')).status, 202);
    assert.equal((await post(TOKEN)).status, 202);
    assert.deepEqual(
      sink
        .slice(before)
        .map((r) => (JSON.parse(r.data.toString('utf8')) as { submitted_by?: unknown }).submitted_by),
      [
        { via: 'api', token: 'nagios', node: 'a' },
        { via: 'api', token: 'default', node: 'a' },
      ],
    );
    const readPosts = await post('read-only-token');
    assert.equal(readPosts.status, 403);
    assert.match(readPosts.text, /token dashboard may read; this needs the submit role/);
    // No token, a wrong one, and a configured token whose variable is empty: 401, never a role.
    for (const token of [undefined, 'wrong', '']) {
      const a = await post(token);
      assert.equal(a.status, 401, String(token));
      assert.equal(errorCode(a), ApiErrorCodes.UNAUTHORIZED);
    }
  });

  test('GET /v1/services: profile, mode and the rate-limit count in the window now', async () => {
    const a = await call(base, '/v1/services');
    assert.equal(a.status, 200);
    const services = (
      a.json as {
        services: {
          name: string;
          profile: string;
          mode: string;
          team?: string;
          rules: string[];
          rate_limit: { count: number; threshold: number; window_ms: number };
        }[];
      }
    ).services;
    assert.deepEqual(
      services.map((s) => s.name),
      [...config.services.keys()].sort(),
    );
    const sms = services.find((s) => s.name === 'sms-api');
    assert.equal(sms?.profile, 'stateless');
    assert.equal(sms?.team, 'messaging');
    assert.equal(sms?.mode, config.services.get('sms-api')?.parameters.mode);
    assert.equal(sms?.rate_limit.count, 3, 'the entry an hour old is out of the window');
    assert.equal(sms?.rate_limit.threshold, config.services.get('sms-api')?.parameters.rateLimitThreshold);
    assert.ok((sms?.rules.length ?? 0) > 0);
    assert.equal(services.find((s) => s.name === 'search')?.rate_limit.count, 0);
  });

  test('GET /v1/cluster: nodes with state, heartbeat and shards; breaker; quorum', async () => {
    const a = await call(base, '/v1/cluster');
    assert.equal(a.status, 200);
    const c = a.json as {
      region: string;
      self: string;
      quorum: number;
      nodes_up: number;
      has_quorum: boolean;
      nodes: { id: string; zone: string; state: string; shards: string[]; last_heartbeat: string | null }[];
      shards: { id: string; holder: string | null; checkpoint: string | null }[];
      breaker: {
        state: string;
        services: number;
        open_now: boolean;
        history: { state: string; services: string[] }[];
      };
    };
    assert.equal(c.region, config.region.region);
    assert.equal(c.self, 'a');
    assert.equal(c.quorum, 2);
    assert.deepEqual(
      c.nodes.map((n) => [n.id, n.zone, n.state, n.shards]),
      [
        ['a', 'local-1a', 'up', ['shardId-000000000000']],
        ['b', 'local-1b', 'up', ['shardId-000000000001']],
        ['c', 'local-1c', 'down', []],
      ],
    );
    assert.ok(c.nodes[0]?.last_heartbeat !== null);
    assert.equal(c.nodes_up, 2);
    assert.equal(c.has_quorum, true);
    // Found by SCAN of the lease keys.
    assert.deepEqual(c.shards, [
      { id: 'shardId-000000000000', holder: 'a', checkpoint: '49600000000000000001' },
      { id: 'shardId-000000000001', holder: 'b', checkpoint: null },
    ]);
    assert.equal(c.breaker.state, 'open');
    assert.equal(c.breaker.services, 2);
    assert.equal(c.breaker.open_now, false);
    assert.deepEqual(c.breaker.history[0]?.services, ['x', 'y']);

    // With the stream's shards given, a shard nobody holds is listed too.
    const g = await call(guarded.url, '/v1/cluster', { headers: { authorization: `Bearer ${TOKEN}` } });
    const shards = (g.json as typeof c).shards;
    assert.deepEqual(shards[2], { id: 'shardId-000000000002', holder: null, checkpoint: null });
  });

  test('GET /metrics parses as Prometheus text format and its counters move', async () => {
    const before = await call(base, '/metrics');
    assert.equal(before.status, 200);
    assert.match(before.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const s0 = parseExposition(before.text);
    for (const family of [
      'lazarus_events_received_total',
      'lazarus_decisions_total',
      'lazarus_decision_latency_ms',
      'lazarus_votes_total',
      'lazarus_breaker_open',
      'lazarus_workflow_step_duration_ms',
      'lazarus_shard_lag_ms',
      'lazarus_api_requests_total',
    ]) {
      assert.ok(before.text.includes(`# TYPE ${family} `), family);
    }
    metrics.eventReceived();
    metrics.eventReceived();
    metrics.recordDecision(actRecord);
    metrics.decided('escalate', 'rate_limited', 250);
    metrics.rateLimited('sms-api');
    metrics.shardLag('shardId-000000000000', 1200);
    metrics.stepFinished('http.request', 'succeeded', 35);
    metrics.pageAcked(800);
    metrics.runStarted('default.replace_host');
    metrics.peerError('b');
    metrics.redisError('rate_hit');
    const after = parseExposition((await call(base, '/metrics')).text);
    assert.equal(after.value('lazarus_events_received_total') - s0.value('lazarus_events_received_total'), 2);
    assert.equal(after.value('lazarus_decisions_total', { outcome: 'act', reason: 'none' }), 1);
    assert.equal(after.value('lazarus_decisions_total', { outcome: 'escalate', reason: 'rate_limited' }), 1);
    assert.equal(after.value('lazarus_votes_total', { node: 'c', result: 'pass' }), 1);
    assert.equal(after.value('lazarus_decision_latency_ms_bucket', { outcome: 'escalate', le: '250' }), 1);
    assert.equal(after.value('lazarus_decision_latency_ms_bucket', { outcome: 'escalate', le: '100' }), 0);
    assert.equal(after.value('lazarus_decision_latency_ms_count', { outcome: 'act' }), 1);
    assert.equal(after.value('lazarus_rate_limited_total', { service: 'sms-api' }), 1);
    assert.equal(after.value('lazarus_breaker_open'), 0);
    assert.equal(after.value('lazarus_shard_lag_ms', { shard: 'shardId-000000000000' }), 1200);
    assert.equal(after.value('lazarus_page_ack_latency_ms_count'), 1);
    assert.equal(after.value('lazarus_peer_errors_total', { peer: 'b' }), 1);
    assert.ok(
      after.value('lazarus_api_requests_total', { method: 'GET', route: '/metrics', status: '200' }) >= 1,
    );
    metrics.shardReleased('shardId-000000000000');
    const released = parseExposition((await call(base, '/metrics')).text);
    assert.equal(released.families.get('lazarus_shard_lag_ms')?.samples.length ?? 0, 0);
  });

  test('the console: files with their content types, nothing outside its directory', async () => {
    const index = await call(base, '/');
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(index.text, /<title>Lazarus<\/title>/);
    const js = await call(base, '/app.js');
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    for (const path of [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/app.js%00',
      '/..%5csecret.txt',
    ]) {
      const a = await call(base, path);
      assert.equal(a.status, 404, path);
      assert.ok(!a.text.includes('outside'), path);
    }
    // fetch normalises `/../`; a raw request does not.
    const raw = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/`, { path: '/../secret.txt' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(raw, 404);
  });

  test('/healthz answers; /readyz is 503 unless the node is running', async () => {
    assert.deepEqual((await call(base, '/healthz')).json, { status: 'ok' });
    assert.equal((await call(base, '/readyz')).status, 200);
    state = 'draining';
    try {
      const a = await call(base, '/readyz');
      assert.equal(a.status, 503);
      assert.equal(errorCode(a), ApiErrorCodes.UNAVAILABLE);
    } finally {
      state = 'running';
    }
  });

  test('lazarus events / lazarus event print tables from a node, the next node when one is down', async () => {
    const out = (): { stream: PassThrough; text: () => string } => {
      const stream = new PassThrough();
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
      return { stream, text: () => text };
    };
    // A config whose first node is down: the second one answers.
    const dir = await mkdtemp(join(tmpdir(), 'lazarus-cli-'));
    try {
      const dead = await freePort();
      await writeFile(
        join(dir, 'region.yaml'),
        `nodes:\n  - { id: a, api: "127.0.0.1:${dead}" }\n  - { id: b, api: "127.0.0.1:${api.port}" }\n`,
      );
      const list = out();
      assert.equal(await eventsCommand(dir, { service: 'voice-gateway', limit: '4' }, list.stream), 0);
      const lines = list.text().trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^DECIDED\s+EVENT\s+SERVICE\s+HOST\s+TYPE\s+DECISION\s+REASON/);
      assert.match(lines[1] ?? '', /ev-stale\s+voice-gateway\s+vg-0\s+NagiosHostAlarm\s+escalate\s+stale/);
      assert.equal(lines.filter((l) => l.includes(' escalate ')).length, 4);
      assert.match(list.text(), /more: add --cursor \S+/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const trace = out();
    assert.equal(await eventCommand('/nonexistent', 'ev-act', { api: base }, trace.stream), 0);
    const text = trace.text();
    assert.match(text, /decision\s+act/);
    assert.match(text, /votes \(quorum 2\):/);
    for (const node of ['a', 'b', 'c'])
      assert.match(text, new RegExp(`^ {2}${node}\\s+local-1${node}\\s+pass`, 'm'));
    assert.match(text, /MinActiveHosts\s+pass\s+healthy_others=4\s+>= 3/);
    assert.match(text, /run run-ev-act \(default\.replace_host\): succeeded/);
    assert.match(text, /^ {2}boot\s+main\s+succeeded\s+1/m);

    const missing = out();
    assert.equal(await eventCommand('/nonexistent', 'nope', { api: api.url }, missing.stream), 1);
    const bad = out();
    assert.equal(await eventsCommand('/nonexistent', { api: base, status: 'maybe' }, bad.stream), 2);
    assert.match(bad.text(), /400 LZ_ERR_API_BAD_REQUEST/);
  });

  // Last: it stops Redis.
  test('with Redis down: /readyz and the reads answer 503, /healthz still 200', async () => {
    await server.stop();
    const ready = await call(base, '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(errorCode(ready), ApiErrorCodes.UNAVAILABLE);
    assert.match(JSON.stringify(ready.json), /Redis/);
    for (const path of ['/v1/events', '/v1/events/ev-act', '/v1/services', '/v1/cluster']) {
      const a = await call(base, path);
      assert.equal(a.status, 503, path);
      assert.equal(errorCode(a), ApiErrorCodes.UNAVAILABLE, path);
    }
    assert.equal((await call(base, '/healthz')).status, 200);
  });
});
