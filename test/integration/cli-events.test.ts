/**
 * `lazarus events` and `lazarus event ID` as an operator runs them: the CLI as a child process (as
 * `cli.test.ts` runs it, through tsx) against real `ApiServer`s bound to port 0, reading records
 * written by the real writers (DecisionStore, RedisRunStore, the rejected list) into a private
 * redis-server under a fresh key prefix. One server has open reads, the other protects them.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { Metrics } from '../../src/metrics/metrics.js';
import { ApiServer } from '../../src/api/server.js';
import type { ApiServerOptions } from '../../src/api/server.js';
import { AuditLog } from '../../src/audit/log.js';
import { timelineText, traceText } from '../../src/cli/events.js';
import { configDir } from '../../src/common/package-root.js';
import { loadConfigOrThrow } from '../../src/config/load.js';
import { defaultCatalog } from '../../src/controller/catalog.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { freePort } from '../../src/sim/ports.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { REPO } from '../helpers/config-copy.js';
import { decisionRecord, freshKeys, writeDecisions, writeRejected, writeRun } from '../unit/api/fixtures.js';
import type { DecisionSpec } from '../unit/api/fixtures.js';

const run = promisify(execFile);
const CLI = join(REPO, 'src', 'cli', 'main.ts');
const TOKEN = 'cli-test-token-0123456789';
/** The variable the test region's `api.token_env` names. */
const REGION_TOKEN_ENV = 'LZ_CLI_TEST_API_TOKEN';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lazarus ARGS` as a real process with `env` on top of an environment cleared of the
 * variables the CLI reads; resolves with the exit code and output, whatever the code.
 */
async function lazarus(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = { ...process.env };
  for (const name of ['LAZARUS_API_TOKEN', 'LAZARUS_CONFIG', REGION_TOKEN_ENV]) delete base[name];
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: REPO,
      env: { ...base, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * The rows of a table the CLI printed, keyed by its header: each column starts where its heading
 * does (cells are left-aligned and padded), so empty cells are read as empty.
 */
function rows(text: string, firstHeader: string): Record<string, string>[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trimStart().startsWith(`${firstHeader} `));
  assert.ok(start >= 0, `no table with ${firstHeader} in:\n${text}`);
  const columns = [...(lines[start] ?? '').matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  const out: Record<string, string>[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    out.push(
      Object.fromEntries(
        columns.map((c, i) => [c.name, line.slice(c.at, columns[i + 1]?.at ?? line.length).trim()]),
      ),
    );
  }
  return out;
}

function cursorOf(stdout: string): string | undefined {
  return /^more: add --cursor (\S+)$/m.exec(stdout)?.[1];
}

describe('lazarus events / lazarus event against a node API', { timeout: 120_000 }, () => {
  let redisServer: RedisProcess;
  let redis: Redis;
  let open: ApiServer;
  let guarded: ApiServer;
  let regionDir: string;
  let rejectedListId: string;
  let now: number;
  const searchIds: string[] = [];

  before(async () => {
    redisServer = await startRedis();
    redis = await connectRedis(redisServer.url, { connectionName: 'cli-events-test' });
    const keys = freshKeys();
    const config = await loadConfigOrThrow(configDir(undefined), defaultCatalog());
    now = Date.now();
    const specs: DecisionSpec[] = [
      { id: 'ev-act', decidedAt: now - 1000, host: 'sms-api-1', node: 'a' },
      {
        id: 'ev-rate',
        decidedAt: now - 2000,
        reason: 'rate_limited',
        service: 'voice-gateway',
        host: 'vg-1',
        node: 'b',
      },
      { id: 'ev-lock', decidedAt: now - 2100, reason: 'lock_held', service: 'voice-gateway', host: 'vg-2' },
      {
        id: 'ev-checks',
        decidedAt: now - 2200,
        reason: 'checks_failed',
        service: 'voice-gateway',
        host: 'vg-3',
        node: 'c',
      },
      { id: 'ev-dup', decidedAt: now - 3000, decision: 'duplicate', host: 'sms-api-2' },
      // Older than an hour: outside `--since 1h`. Several share a millisecond, which the cursor
      // must page through without a gap or a repeat.
      ...Array.from({ length: 8 }, (_, i) => ({
        id: `ev-search-${i}`,
        decidedAt: now - 2 * 3_600_000 - Math.floor(i / 3),
        service: 'search',
        host: `s-${i % 2}`,
      })),
    ];
    const records = await writeDecisions(redis, keys, specs);
    // Newest first; one millisecond's events as Redis orders equal scores (member descending).
    searchIds.push(
      ...specs
        .filter((s) => s.service === 'search')
        .sort((a, b) => b.decidedAt - a.decidedAt || (a.id < b.id ? 1 : -1))
        .map((s) => s.id),
    );
    await writeRun(redis, keys, records[0]!, 'failed');
    // What the responder appends after the decision: the page's acknowledgement, a notification.
    const audit = new AuditLog(redis, keys, 0, { warn: () => undefined });
    const decided = now - 1000;
    await audit.append('ev-act', {
      at: new Date(decided + 2).toISOString(),
      node: 'a',
      kind: 'page',
      action: 'acknowledge',
      ok: true,
      latency_ms: 320,
      detail: { incident_id: 'PD-123', attempts: 1 },
    });
    await audit.append('ev-act', {
      at: new Date(decided + 3).toISOString(),
      node: 'a',
      kind: 'notify',
      action: 'acknowledged',
      ok: false,
      error: 'slack answered 500',
    });
    const rejected = await writeRejected(redis, keys, '{"service":"sms-api","host":"x"', {
      code: 'LZ_ERR_EVENT_NOT_JSON',
      at: now - 500,
    });
    rejectedListId = `rejected:${rejected.shard}:${rejected.sequence}`;

    const options: ApiServerOptions = {
      listen: '127.0.0.1:0',
      redis,
      keys,
      config,
      metrics: new Metrics({ defaultMetrics: false }),
      put: () => Promise.reject(new Error('not used by these tests')),
      state: () => 'running',
      token: TOKEN,
      nodeId: 'a',
    };
    open = await ApiServer.start(options);
    guarded = await ApiServer.start({
      ...options,
      metrics: new Metrics({ defaultMetrics: false }),
      protectReads: true,
    });

    // A region whose first node is down; the second one (reads protected) answers.
    regionDir = await mkdtemp(join(tmpdir(), 'lazarus-cli-events-'));
    await writeFile(
      join(regionDir, 'region.yaml'),
      [
        'nodes:',
        `  - { id: a, api: "127.0.0.1:${await freePort()}" }`,
        `  - { id: b, api: "127.0.0.1:${guarded.port}" }`,
        'api:',
        `  token_env: ${REGION_TOKEN_ENV}`,
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await open?.stop();
    await guarded?.stop();
    redis?.disconnect();
    await redisServer?.stop();
    if (regionDir !== undefined) await rm(regionDir, { recursive: true, force: true });
  });

  test('events: a table of the events, newest first; each filter narrows it', async () => {
    const api = ['--api', open.url];
    const [all, voice, lock, host, rejected, recent, json] = await Promise.all([
      lazarus(['events', ...api]),
      lazarus(['events', ...api, '--service', 'voice-gateway']),
      lazarus(['events', ...api, '--status', 'escalate', '--reason', 'lock_held']),
      lazarus(['events', ...api, '--host', 'sms-api-1']),
      lazarus(['events', ...api, '--status', 'rejected']),
      lazarus(['events', ...api, '--since', '1h']),
      lazarus(['events', ...api, '--service', 'voice-gateway', '--json']),
    ]);
    for (const r of [all, voice, lock, host, rejected, recent, json]) assert.equal(r.code, 0, r.stderr);

    const table = rows(all.stdout, 'DECIDED');
    assert.deepEqual(
      table.map((r) => r['EVENT']),
      ['ev-act', 'ev-rate', 'ev-lock', 'ev-checks', 'ev-dup', ...searchIds],
    );
    assert.equal(cursorOf(all.stdout), undefined, 'one page holds everything');
    assert.deepEqual(table[0], {
      DECIDED: new Date(now - 1000).toISOString(),
      EVENT: 'ev-act',
      SERVICE: 'sms-api',
      HOST: 'sms-api-1',
      TYPE: 'NagiosHostAlarm',
      DECISION: 'act',
      REASON: '-',
      RULE: 'sms-api/nagios_host_down',
      NODE: 'a',
      LATENCY: '40ms',
      RUN: 'failed',
    });

    assert.deepEqual(
      rows(voice.stdout, 'DECIDED').map((r) => [
        r['EVENT'],
        r['HOST'],
        r['DECISION'],
        r['REASON'],
        r['NODE'],
      ]),
      [
        ['ev-rate', 'vg-1', 'escalate', 'rate_limited', 'b'],
        ['ev-lock', 'vg-2', 'escalate', 'lock_held', 'a'],
        ['ev-checks', 'vg-3', 'escalate', 'checks_failed', 'c'],
      ],
    );
    assert.deepEqual(
      rows(lock.stdout, 'DECIDED').map((r) => r['EVENT']),
      ['ev-lock'],
    );
    assert.deepEqual(
      rows(host.stdout, 'DECIDED').map((r) => r['EVENT']),
      ['ev-act'],
    );
    const rejectedRows = rows(rejected.stdout, 'DECIDED');
    assert.deepEqual(
      rejectedRows.map((r) => [r['EVENT'], r['SERVICE'], r['HOST'], r['DECISION'], r['REASON'], r['NODE']]),
      // Not JSON: nothing can be read from it for the service and host columns.
      [[rejectedListId, '-', '-', 'rejected', 'LZ_ERR_EVENT_NOT_JSON', 'b']],
    );
    // A duration is a time back from now: the events two hours old are left out.
    assert.deepEqual(
      rows(recent.stdout, 'DECIDED').map((r) => r['EVENT']),
      ['ev-act', 'ev-rate', 'ev-lock', 'ev-checks', 'ev-dup'],
    );
    const page = JSON.parse(json.stdout) as { items: { id: string; reason: string }[]; next?: string };
    assert.deepEqual(
      page.items.map((e) => [e.id, e.reason]),
      [
        ['ev-rate', 'rate_limited'],
        ['ev-lock', 'lock_held'],
        ['ev-checks', 'checks_failed'],
      ],
    );
    assert.equal(page.next, undefined);
  });

  test('events: --since and --until as RFC 3339 and epoch ms; nothing matching is said so', async () => {
    const api = ['--api', open.url];
    const [window, none] = await Promise.all([
      lazarus([
        'events',
        ...api,
        '--since',
        new Date(now - 2150).toISOString(),
        '--until',
        String(now - 1500),
      ]),
      lazarus(['events', ...api, '--service', 'no-such-service']),
    ]);
    assert.equal(window.code, 0, window.stderr);
    assert.deepEqual(
      rows(window.stdout, 'DECIDED').map((r) => r['EVENT']),
      ['ev-rate', 'ev-lock'],
    );
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /^no events match \(\d+ looked at\)$/m);
    assert.doesNotMatch(none.stdout, /DECIDED/);
  });

  test('events: --limit pages, --cursor goes on, with no event twice and none left out', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await lazarus([
        'events',
        '--api',
        open.url,
        '--service',
        'search',
        '--limit',
        '3',
        ...(cursor === undefined ? [] : ['--cursor', cursor]),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const page = rows(r.stdout, 'DECIDED').map((row) => row['EVENT'] ?? '');
      assert.ok(page.length <= 3, r.stdout);
      seen.push(...page);
      cursor = cursorOf(r.stdout);
      pages++;
      assert.ok(pages <= 10, 'the cursor does not move on');
    } while (cursor !== undefined);
    assert.deepEqual(seen, searchIds);
    assert.equal(pages, 3);
  });

  test('event ID: the trace (decision, votes with checks, run with steps), then the timeline', async () => {
    const r = await lazarus(['event', 'ev-act', '--api', open.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const text = r.stdout;
    assert.match(text, /^event\s+ev-act \(NagiosHostAlarm\) sms-api\/sms-api-1$/m);
    assert.match(text, /^decision\s+act$/m);
    assert.match(text, /^rule\s+sms-api\/nagios_host_down → workflow default\.replace_host, lock host$/m);
    assert.match(text, /^gates\s+rate 1\/10 in 10m: allowed; breaker 1\/10 services in 10m: closed$/m);
    assert.match(text, /^lock\s+host:sms-api\/sms-api-1 #7 acquired$/m);
    assert.match(text, /votes \(quorum 2\):/);
    assert.deepEqual(
      rows(text, 'NODE').map((v) => [v['NODE'], v['ZONE'], v['VOTE'], v['CHECK'], v['PASS']]),
      [
        ['a', 'local-1a', 'pass', 'HealthCheckDown', 'pass'],
        ['', '', '', 'MinActiveHosts', 'pass'],
        ['b', 'local-1b', 'pass', 'HealthCheckDown', 'pass'],
        ['', '', '', 'MinActiveHosts', 'pass'],
        ['c', 'local-1c', 'pass', 'HealthCheckDown', 'pass'],
        ['', '', '', 'MinActiveHosts', 'pass'],
      ],
    );
    assert.match(text, /^ {2}a\s+local-1a\s+pass\s+12\s+HealthCheckDown\s+pass\s+status 503 from local-1a/m);
    assert.match(text, /^\s+MinActiveHosts\s+pass\s+healthy_others=4\s+>= 3/m);
    assert.match(text, /^run run-ev-act \(default\.replace_host\): failed, started .* on a$/m);
    assert.match(text, /^ {2}failed at boot \(step_failed\): orchestrator answered 500$/m);
    assert.deepEqual(
      rows(text, 'STEP').map((s) => [s['STEP'], s['STATUS']]),
      [
        ['acknowledge', 'skipped'],
        ['lb_out', 'succeeded'],
        ['boot', 'failed'],
        ['verify', 'pending'],
      ],
    );
    // The timeline, after the rest: from the arrival (decided - 40 ms), in the order the API sends it.
    assert.ok(text.indexOf('\ntimeline (') > text.indexOf('  verify '), 'the timeline comes last');
    assert.match(text, new RegExp(`^timeline \\(\\+0 = ${new Date(now - 1040).toISOString()}\\):$`, 'm'));
    const timeline = rows(text, 'TIME');
    assert.deepEqual(
      timeline.map((r) => [r['TIME'], r['NODE'], r['STAGE'], r['OK']]),
      [
        ['+0ms', 'a', 'received', ''],
        ['+0ms', 'a', 'parsed', 'ok'],
        ['+0ms', 'a', 'stale', 'ok'],
        ['+0ms', 'a', 'dedup', 'ok'],
        ['+0ms', 'a', 'match', 'ok'],
        ['+0ms', 'a', 'gates', 'ok'],
        ['+40ms', 'a', 'vote', 'ok'],
        ['+40ms', 'b', 'vote', 'ok'],
        ['+40ms', 'c', 'vote', 'ok'],
        ['+40ms', 'a', 'lock', 'ok'],
        ['+40ms', 'a', 'decision', 'ok'],
        ['+42ms', 'a', 'page', 'ok'],
        ['+43ms', 'a', 'notify', 'FAIL'],
        ['+45ms', 'a', 'workflow', ''],
        ['+45ms', '-', 'step', 'ok'],
        ['+55ms', '-', 'step', 'ok'],
        ['+85ms', '-', 'step', 'FAIL'],
        ['+245ms', '-', 'workflow', 'FAIL'],
      ],
    );
    // The titles are the node's words; what must be in them is the thing each row is about.
    const title = (stage: string, i = 0): string =>
      timeline.filter((r) => r['STAGE'] === stage)[i]?.['TITLE'] ?? '';
    assert.match(title('received'), /shardId-000000000001/);
    assert.match(title('match'), /sms-api\/nagios_host_down/);
    assert.match(title('page'), /acknowledge.*PD-123/);
    assert.match(title('notify'), /slack answered 500/);
    assert.match(title('step', 2), /^boot: failed/);
    assert.match(title('workflow', 1), /failed at boot/);

    const [escalated, rejected, json] = await Promise.all([
      lazarus(['event', 'ev-checks', '--api', open.url]),
      lazarus(['event', rejectedListId, '--api', open.url]),
      lazarus(['event', 'ev-act', '--api', open.url, '--json']),
    ]);
    assert.equal(escalated.code, 0, escalated.stderr);
    assert.match(escalated.stdout, /^decision\s+escalate: checks_failed \(.+\)$/m);
    assert.match(escalated.stdout, /^\s+MinActiveHosts\s+fail\s+healthy_others=1\s+>= 3/m);
    assert.doesNotMatch(escalated.stdout, /^run /m);
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.match(rejected.stdout, /^rejected\s+\S+ by b: LZ_ERR_EVENT_NOT_JSON$/m);
    assert.match(rejected.stdout, /^first bytes: "\{\\"service\\":\\"sms-api\\",\\"host\\":\\"x\\""$/m);
    assert.doesNotMatch(rejected.stdout, /timeline/, 'no timeline in the answer: none printed');
    assert.equal(json.code, 0, json.stderr);
    const body = JSON.parse(json.stdout) as {
      decision: { event_id: string };
      run: { status: string };
      timeline: { stage: string }[];
      audit: { kind: string }[];
    };
    assert.equal(body.decision.event_id, 'ev-act');
    assert.equal(body.run.status, 'failed');
    assert.equal(body.timeline.length, timeline.length);
    assert.deepEqual(
      body.audit.map((a) => a.kind),
      ['page', 'notify'],
    );
  });

  test('event ID of no event: exit 1 with the API’s reason', async () => {
    const r = await lazarus(['event', 'no-such-event', '--api', open.url]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^no-such-event: no decision for event no-such-event/m);
  });

  test('a refused filter, a bad cursor or bad usage: exit 2 and why', async () => {
    const api = ['--api', open.url];
    const [status, limit, since, cursor, extra, noId, misplaced, noNode] = await Promise.all([
      lazarus(['events', ...api, '--status', 'maybe']),
      lazarus(['events', ...api, '--limit', '0']),
      lazarus(['events', ...api, '--since', 'yesterday']),
      lazarus(['events', ...api, '--cursor', 'not-a-cursor']),
      lazarus(['events', 'ev-act', ...api]),
      lazarus(['event', ...api]),
      lazarus(['event', 'ev-act', ...api, '--service', 'sms-api']),
      lazarus(['events', '--api', `127.0.0.1:${await freePort()}`]),
    ]);
    for (const r of [status, limit, since, cursor, extra, noId, misplaced, noNode]) {
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, '', 'nothing on stdout');
    }
    assert.match(status.stderr, /400 LZ_ERR_API_BAD_REQUEST: .*status must be one of act, escalate/);
    assert.match(limit.stderr, /400 LZ_ERR_API_BAD_REQUEST: .*limit must be an integer from 1 to 500/);
    assert.match(since.stderr, /400 LZ_ERR_API_BAD_REQUEST: .*since must be epoch milliseconds/);
    assert.match(cursor.stderr, /400 LZ_ERR_API_BAD_REQUEST: the cursor is not one this API handed out/);
    assert.match(extra.stderr, /lazarus events: takes no arguments/);
    assert.match(noId.stderr, /lazarus event: one event ID is required/);
    assert.match(misplaced.stderr, /lazarus: unknown option '--service'/);
    assert.match(noNode.stderr, /no node's API answered:\n {2}http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  test('protected reads: 401 without the token (exit 2); the token from --token or the environment', async () => {
    const api = ['--api', guarded.url];
    const [bare, trace, wrong, flag, env] = await Promise.all([
      lazarus(['events', ...api]),
      lazarus(['event', 'ev-act', ...api]),
      lazarus(['events', ...api, '--token', 'wrong']),
      lazarus(['events', ...api, '--token', TOKEN, '--service', 'voice-gateway']),
      lazarus(['event', 'ev-act', ...api], { LAZARUS_API_TOKEN: TOKEN }),
    ]);
    for (const r of [bare, trace]) {
      assert.equal(r.code, 2);
      assert.match(r.stderr, /401 LZ_ERR_API_UNAUTHORIZED: missing or wrong bearer token/);
      assert.match(r.stderr, /no token was sent: give --token T or set \$LAZARUS_API_TOKEN/);
    }
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /401 LZ_ERR_API_UNAUTHORIZED/);
    assert.match(wrong.stderr, /the token was refused/);
    assert.equal(flag.code, 0, flag.stderr);
    assert.deepEqual(
      rows(flag.stdout, 'DECIDED').map((r) => r['EVENT']),
      ['ev-rate', 'ev-lock', 'ev-checks'],
    );
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^decision\s+act$/m);
  });

  test('without --api: the configured nodes in turn, the token from api.token_env', async () => {
    const config = ['--config', regionDir];
    const [withToken, fromConfigEnv, missing] = await Promise.all([
      lazarus(['events', ...config, '--status', 'duplicate'], { [REGION_TOKEN_ENV]: TOKEN }),
      lazarus(['event', 'ev-dup'], { LAZARUS_CONFIG: regionDir, [REGION_TOKEN_ENV]: TOKEN }),
      // The default variable is not the one this region names.
      lazarus(['events', ...config], { LAZARUS_API_TOKEN: TOKEN }),
    ]);
    assert.equal(withToken.code, 0, withToken.stderr);
    assert.deepEqual(
      rows(withToken.stdout, 'DECIDED').map((r) => [r['EVENT'], r['DECISION']]),
      [['ev-dup', 'duplicate']],
    );
    assert.equal(fromConfigEnv.code, 0, fromConfigEnv.stderr);
    assert.match(fromConfigEnv.stdout, /^duplicate of\s+ev-dup-first$/m);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      new RegExp(`no token was sent: give --token T or set \\$${REGION_TOKEN_ENV}`),
    );

    const nowhere = await lazarus(['events', '--config', join(regionDir, 'missing')]);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /region\.yaml could not be read .*; give --api URL/);
  });
});

describe('the timeline table of lazarus event', () => {
  test('in the order given, times relative to the first entry; node, stage, ok/FAIL, title', () => {
    const t0 = Date.parse('2026-11-22T03:00:00.000Z');
    const at = (ms: number): string => new Date(t0 + ms).toISOString();
    const text = timelineText([
      { at: at(0), stage: 'received', node: 'a', title: 'read from shardId-000000000001' },
      { at: at(40), stage: 'parsed', node: 'a', ok: true, title: 'a NagiosHostAlarm event' },
      { at: at(55), stage: 'vote', node: 'b', ok: false, title: 'checks failed' },
      { at: at(2315), stage: 'page', ok: true, title: 'acknowledged PD-123' },
      { at: at(750_000), stage: 'workflow', node: 'a', ok: false, title: 'run failed at boot' },
      { at: 'not a time', stage: 'step', title: 'boot: failed' },
    ]);
    assert.equal(text.split('\n')[0], 'timeline (+0 = 2026-11-22T03:00:00.000Z):');
    assert.deepEqual(
      rows(text, 'TIME').map((r) => [r['TIME'], r['NODE'], r['STAGE'], r['OK'], r['TITLE']]),
      [
        ['+0ms', 'a', 'received', '', 'read from shardId-000000000001'],
        ['+40ms', 'a', 'parsed', 'ok', 'a NagiosHostAlarm event'],
        ['+55ms', 'b', 'vote', 'FAIL', 'checks failed'],
        ['+2.315s', '-', 'page', 'ok', 'acknowledged PD-123'],
        ['+12m30s', 'a', 'workflow', 'FAIL', 'run failed at boot'],
        ['?', '-', 'step', '', 'boot: failed'],
      ],
    );
  });
});

describe('the trace of lazarus event: who submitted the event', () => {
  test('the node and token of an API stamp, straight from the stream, or nothing for an older record', () => {
    const d = decisionRecord({ id: 'who', decidedAt: Date.parse('2026-11-22T03:00:00.000Z') });
    // As the CLI gets it: the record as the API's JSON.
    const trace = (record: object): string =>
      traceText(JSON.parse(JSON.stringify(record)) as Parameters<typeof traceText>[0], undefined);
    const line = (text: string): string | undefined => /^submitted +(.*)$/m.exec(text)?.[1];
    assert.equal(
      line(trace({ ...d, submitted_by: { via: 'api', token: 'nagios', node: 'b' } })),
      "through node b's REST API with token nagios",
    );
    assert.equal(
      line(trace({ ...d, submitted_by: { via: 'stream' } })),
      'directly to the stream, not through the REST API',
    );
    assert.equal(line(trace(d)), undefined);
  });
});
