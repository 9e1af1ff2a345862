/**
 * `lazarus nagios-notify` as Nagios runs it: a real process with the notification's macros in its
 * environment (`NAGIOS_*`, as `enable_environment_macros=1` exports them), first on its own (what it
 * prints and exits with when something is missing, when there is nothing to send, when no node
 * answers), then against a local region of three node processes: a host fault injected into the
 * fleet, PagerDuty paged as its Nagios integration pages (with the incident key that integration
 * derives), the notification sent once through a node's REST API and once onto the stream, and the
 * cluster's decisions read back: the host-down notification acts, the recovery is not sent and
 * leaves no decision.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { DecisionRecord } from '../../src/records/decision.js';
import { eventId } from '../../src/sensors/nagios.js';
import { LocalStack, cliCommand } from '../../src/sim/local-stack.js';
import { freePort } from '../../src/sim/ports.js';
import { ClusterProbe } from '../helpers/cluster.js';
import { REPO } from '../helpers/config-copy.js';

const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lazarus nagios-notify ARGS` with `env` on top of an environment cleared of what the command
 * reads (Nagios' macros, the token, the configuration), as Nagios runs a notification command.
 */
async function notify(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(base))
    if (name.startsWith('NAGIOS_') || name.startsWith('LAZARUS_')) delete base[name];
  const { command, args: prefix } = cliCommand();
  try {
    const { stdout, stderr } = await run(command, [...prefix, 'nagios-notify', ...args], {
      cwd: REPO,
      env: { ...base, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let problems = 7000 + (process.pid % 1000) * 10;

/** A host notification's environment macros, as Nagios exports them for `host` at this moment. */
function hostMacros(
  host: string,
  type: 'PROBLEM' | 'RECOVERY',
  overrides: Record<string, string> = {},
): Record<string, string> {
  const problem = String(problems);
  return {
    NAGIOS_NOTIFICATIONTYPE: type,
    NAGIOS_HOSTNAME: host,
    NAGIOS_HOSTSTATE: type === 'PROBLEM' ? 'DOWN' : 'UP',
    NAGIOS_HOSTSTATETYPE: 'HARD',
    NAGIOS_HOSTPROBLEMID: type === 'PROBLEM' ? problem : '0',
    NAGIOS_LASTHOSTPROBLEMID: type === 'PROBLEM' ? '12' : problem,
    NAGIOS_HOSTNOTIFICATIONNUMBER: type === 'PROBLEM' ? '1' : '2',
    NAGIOS_HOSTOUTPUT: type === 'PROBLEM' ? 'CRITICAL - Host Unreachable' : 'PING OK - Packet loss = 0%',
    NAGIOS_SERVICEDESC: '',
    NAGIOS_TIMET: String(Math.floor(Date.now() / 1000)),
    NAGIOS__HOSTLAZARUS_SERVICE: 'sms-api',
    ...overrides,
  };
}

const RECOVERY_NOT_SENT =
  "not sent (RECOVERY): the problem is over; nothing to act on (PagerDuty's Nagios integration resolves its page itself)\n";

/** The event id the command printed (`ID → where`). */
function sentId(result: Result): string {
  assert.equal(result.code, 0, result.stderr + result.stdout);
  const id = /^(nagios-\S+) → /m.exec(result.stdout)?.[1];
  assert.ok(id !== undefined, result.stdout);
  return id;
}

describe('lazarus nagios-notify on its own', { timeout: 60_000 }, () => {
  test('--dry-run prints the event the environment macros make, and sends nothing', async () => {
    const r = await notify(['host', '--dry-run'], hostMacros('sms-api-2', 'PROBLEM'));
    assert.equal(r.code, 0, r.stderr);
    const event = JSON.parse(r.stdout) as { type: string; incident_key: string; data: object };
    assert.equal(event.type, 'NagiosHostAlarm');
    assert.equal(event.incident_key, 'event_source=host;host_name=sms-api-2');
    assert.deepEqual(
      { ...event.data, problem_id: undefined },
      {
        host_state: 'DOWN',
        host_state_type: 'HARD',
        notification_type: 'PROBLEM',
        problem_id: undefined,
        notification_number: 1,
        output: 'CRITICAL - Host Unreachable',
      },
    );
  });

  test('a missing macro: exit 2, the macro named with how to pass it, no stack trace', async () => {
    const { NAGIOS_HOSTSTATE: _, ...macros } = hostMacros('sms-api-2', 'PROBLEM');
    const r = await notify(['host', '--dry-run'], macros);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'lazarus nagios-notify: HOSTSTATE is missing: give --macro HOSTSTATE=$HOSTSTATE$ in the command definition, or set enable_environment_macros=1 in nagios.cfg so that Nagios passes NAGIOS_HOSTSTATE\n',
    );
    assert.equal(r.stdout, '');
    // The same macros on the command line instead: the event.
    const args = await notify(['host', '--dry-run', '--macro', 'HOSTSTATE=UNREACHABLE'], macros);
    assert.equal(args.code, 0, args.stderr);
    assert.match(args.stdout, /"host_state": "UNREACHABLE"/);
  });

  test('usage: no object, --api with --config, a malformed --macro: exit 2', async () => {
    const macros = hostMacros('sms-api-2', 'PROBLEM');
    const none = await notify(['--dry-run'], macros);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /say host \(in host_notification_commands\) or service/);
    const both = await notify(['host', '--api', 'http://127.0.0.1:1', '--config', '/tmp'], macros);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give one of them/);
    const bad = await notify(['host', '--dry-run', '--macro', 'hoststate'], macros);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--macro hoststate: NAME=VALUE/);
  });

  test('an acknowledgement or a recovery is not sent: exit 0, and why', async () => {
    const r = await notify(['host'], { NAGIOS_NOTIFICATIONTYPE: 'ACKNOWLEDGEMENT' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^not sent \(ACKNOWLEDGEMENT\): a person acknowledged the problem/);
    // Not even tried: no token is asked for, and the node that would not answer is not called.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const recovery = await notify(['host', '--api', closed], hostMacros('sms-api-2', 'RECOVERY'));
    assert.deepEqual(recovery, { code: 0, stdout: RECOVERY_NOT_SENT, stderr: '' });
  });

  test('no token: exit 2 before anything is sent; no node answering: exit 1 with each node', async () => {
    const macros = hostMacros('sms-api-2', 'PROBLEM');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const noToken = await notify(['host', '--api', closed], macros);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /no API token: \$LAZARUS_API_TOKEN is not set/);
    const other = await notify(['host', '--api', closed, '--token-env', 'NAGIOS_LZ_TOKEN'], {
      ...macros,
      NAGIOS_LZ_TOKEN: 't',
    });
    assert.equal(other.code, 1, other.stderr);
    assert.match(
      other.stderr,
      /was not delivered: no node accepted it:\n {2}http:\/\/127\.0\.0\.1:\d+\/v1\/events: connect ECONNREFUSED/,
    );
    assert.doesNotMatch(other.stderr, /\n\s+at /, 'no stack trace');
  });
});

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
`;

describe('lazarus nagios-notify against a local region', { timeout: 240_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    stack = await LocalStack.start({
      services: SERVICES,
      region: { thresholds: { vote_timeout: '3s' }, kinesis: { poll_interval: '50ms' } },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  /** The page Nagios raises through PagerDuty's integration, under the key that integration derives. */
  function page(host: string): string {
    const key = `event_source=host;host_name=${host}`;
    stack.pagerduty.createIncident({ incidentKey: key, service: 'sms-api' });
    return key;
  }

  function assertActed(d: DecisionRecord, host: string, key: string): void {
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    assert.equal(d.rule?.id, 'sms-api/nagios_host_down');
    assert.equal(d.host, host);
    assert.equal(d.event.incident_key, key);
    assert.equal(d.page?.action, 'acknowledge');
    assert.equal(d.page?.ok, true, 'the page Nagios raised is the one acknowledged');
  }

  /** How many decisions the region holds: the audit trail's index. */
  function decisionCount(): Promise<number> {
    return probe.redis.zcard(probe.keys.decisions);
  }

  /**
   * The recovery of the host's current problem, as Nagios sends it: not sent (exit 0, the reason,
   * no event id). Resolves with the id its event would have had, to check that it has no decision.
   */
  async function recover(host: string, args: string[], env: Record<string, string> = {}): Promise<string> {
    const recovery = await notify(['host', ...args], { ...hostMacros(host, 'RECOVERY'), ...env });
    assert.deepEqual(recovery, { code: 0, stdout: RECOVERY_NOT_SENT, stderr: '' });
    return eventId('host', host, undefined, String(problems), '2', 'UP');
  }

  /**
   * The host's next problem, SOFT and without a page (no rule matches it: escalate, no_rule), once it
   * is decided. One host's events share a partition key, so one shard, read in order: whatever was
   * sent for the host before it has been read by then.
   */
  async function nextProblemDecided(
    host: string,
    args: string[],
    env: Record<string, string> = {},
  ): Promise<DecisionRecord> {
    problems += 1;
    const next = await notify(['host', ...args, '--no-incident-key'], {
      ...hostMacros(host, 'PROBLEM', { NAGIOS_HOSTSTATETYPE: 'SOFT' }),
      ...env,
    });
    const d = await probe.waitDecision(sentId(next));
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'no_rule', `${d.reason ?? ''} ${d.error ?? ''}`);
    assert.equal(d.page, undefined);
    return d;
  }

  test('through the REST API: host DOWN acts on the page Nagios raised; the same notification again is the same event, through the next node when the first does not answer; the recovery is not sent', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const key = page('sms-api-2');
    problems += 1;
    const macros = hostMacros('sms-api-2', 'PROBLEM');
    const api = ['--api', stack.apiUrl('a')];
    const token = { LAZARUS_API_TOKEN: stack.apiToken };
    const refused = await notify(['host', ...api], { ...macros, LAZARUS_API_TOKEN: 'not-the-token' });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /\/v1\/events answered 401 LZ_ERR_API_UNAUTHORIZED: /);
    assert.match(refused.stderr, /the token in \$LAZARUS_API_TOKEN was refused\n$/);
    const sent = await notify(['host', ...api], { ...macros, ...token });
    const id = sentId(sent);
    assert.match(
      sent.stdout,
      new RegExp(`^${id} → ${stack.apiUrl('a')}/v1/events: 202 \\{"id":"${id}"\\}\\n$`),
    );
    const d = await probe.waitDecision(id);
    assertActed(d, 'sms-api-2', key);
    // The region's api.token_env token is named `default`.
    assert.deepEqual(d.submitted_by, { via: 'api', token: 'default', node: 'a' });

    // Nagios runs the command once per contact (and a second later): the same event id.
    const again = await notify(['host', ...api], {
      ...macros,
      ...token,
      NAGIOS_TIMET: String(Number(macros['NAGIOS_TIMET']) + 1),
    });
    assert.equal(sentId(again), id);

    const r = await probe.finished(`run-${id}`);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
    await probe.lockReleased('host:sms-api/sms-api-2');

    // The same notification once more, and the first node given does not answer (down, say): the
    // next one takes it. Still the same event.
    const down = `http://127.0.0.1:${await freePort()}`;
    const fallback = await notify(['host', '--api', down, '--api', stack.apiUrl('b')], {
      ...macros,
      ...token,
    });
    assert.equal(sentId(fallback), id);
    assert.match(fallback.stdout, new RegExp(`^${id} → ${stack.apiUrl('b')}/v1/events: 202 `));

    // The host is back (replaced): Nagios sends the recovery, which is not sent.
    const decided = await decisionCount();
    const recoveryId = await recover('sms-api-2', ['--api', down, '--api', stack.apiUrl('b')], token);

    // Once the host's next event is decided, everything before it has been read: the notification
    // sent three times was decided once, with one replacement, and the recovery left no decision.
    const next = await nextProblemDecided('sms-api-2', api, token);
    assert.equal((await probe.decision(id))?.decided_at, d.decided_at, 'decided once');
    assert.equal(stack.fleet.clones().length, 1, 'one replacement');
    assert.equal(await probe.decision(recoveryId), undefined, 'no decision for the recovery');
    assert.equal(await decisionCount(), decided + 1, `only ${next.event.id} was decided since`);
  });

  test('onto the stream (--config): host DOWN acts; its recovery is not sent', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-3' });
    const key = page('sms-api-3');
    problems += 1;
    const config = ['--config', stack.configDir];
    const sent = await notify(['host', ...config], hostMacros('sms-api-3', 'PROBLEM'));
    const id = sentId(sent);
    assert.match(sent.stdout, new RegExp(`^${id} → ${stack.region.stream} shard \\S+ sequence \\d+\\n$`));
    const d = await probe.waitDecision(id);
    assertActed(d, 'sms-api-3', key);
    assert.deepEqual(d.submitted_by, { via: 'stream' });

    const r = await probe.finished(`run-${id}`);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
    await probe.lockReleased('host:sms-api/sms-api-3');

    const decided = await decisionCount();
    const recoveryId = await recover('sms-api-3', config);
    const next = await nextProblemDecided('sms-api-3', config);
    assert.equal(await probe.decision(recoveryId), undefined, 'no decision for the recovery');
    assert.equal(await decisionCount(), decided + 1, `only ${next.event.id} was decided since`);
    assert.equal((await probe.decision(id))?.decided_at, d.decided_at, 'decided once');
  });
});
