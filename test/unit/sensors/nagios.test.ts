/**
 * The Nagios notification → event mapping, with fixtures written from Nagios Core's documentation of
 * its macros: the environment a notification command gets with `enable_environment_macros=1`
 * (`NAGIOS_` + the macro's name; a host's custom variable `_LAZARUS_SERVICE` as
 * `NAGIOS__HOSTLAZARUS_SERVICE`), and the same macros on the command line. Each event is checked
 * against the envelope schema and against the shipped rules (which one matches, if any).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.js';
import { defaultCatalog } from '../../../src/controller/catalog.js';
import { parseEvent } from '../../../src/events/parse.js';
import type { LzEvent } from '../../../src/events/schema.js';
import { Matcher } from '../../../src/matching/matcher.js';
import { MACROS_READ, nagiosEvent, pagerDutyIncidentKey } from '../../../src/sensors/nagios.js';
import type { NagiosInput, NagiosMapping } from '../../../src/sensors/nagios.js';
import { REPO } from '../../helpers/config-copy.js';

const NOW = Date.parse('2026-11-22T03:00:30Z');
/** 2026-11-22T03:00:00Z as `$TIMET$`. */
const TIMET = String(Date.parse('2026-11-22T03:00:00Z') / 1000);

/**
 * A host notification as Nagios exports it: host sms-api-2 went DOWN (HARD) as problem 4711, the
 * first notification of it. Nagios exports every macro; those that do not apply are empty.
 */
const HOST_DOWN_HARD: Record<string, string> = {
  NAGIOS_NOTIFICATIONTYPE: 'PROBLEM',
  NAGIOS_HOSTNAME: 'sms-api-2',
  NAGIOS_HOSTADDRESS: '10.0.1.12',
  NAGIOS_HOSTSTATE: 'DOWN',
  NAGIOS_HOSTSTATEID: '1',
  NAGIOS_HOSTSTATETYPE: 'HARD',
  NAGIOS_HOSTATTEMPT: '3',
  NAGIOS_MAXHOSTATTEMPTS: '3',
  NAGIOS_HOSTEVENTID: '9120',
  NAGIOS_HOSTPROBLEMID: '4711',
  NAGIOS_LASTHOSTPROBLEMID: '4522',
  NAGIOS_HOSTNOTIFICATIONNUMBER: '1',
  NAGIOS_HOSTNOTIFICATIONID: '30311',
  NAGIOS_HOSTOUTPUT: 'CRITICAL - Host Unreachable (10.0.1.12)',
  NAGIOS_SERVICEDESC: '',
  NAGIOS_SERVICESTATE: '',
  NAGIOS_LONGDATETIME: 'Sun Nov 22 03:00:00 UTC 2026',
  NAGIOS_TIMET: TIMET,
  NAGIOS_CONTACTNAME: 'lazarus',
  NAGIOS__HOSTLAZARUS_SERVICE: 'sms-api',
};

/** Retried and still failing: UNREACHABLE (its parent is down), SOFT, attempt 2 of 3. */
const HOST_UNREACHABLE_SOFT: Record<string, string> = {
  ...HOST_DOWN_HARD,
  NAGIOS_HOSTSTATE: 'UNREACHABLE',
  NAGIOS_HOSTSTATEID: '2',
  NAGIOS_HOSTSTATETYPE: 'SOFT',
  NAGIOS_HOSTATTEMPT: '2',
};

/**
 * The host is UP again: its problem id is 0 now, the last one is the problem that recovered. Not
 * sent: there is nothing to act on.
 */
const HOST_RECOVERY: Record<string, string> = {
  ...HOST_DOWN_HARD,
  NAGIOS_NOTIFICATIONTYPE: 'RECOVERY',
  NAGIOS_HOSTSTATE: 'UP',
  NAGIOS_HOSTSTATEID: '0',
  NAGIOS_HOSTPROBLEMID: '0',
  NAGIOS_LASTHOSTPROBLEMID: '4711',
  NAGIOS_HOSTNOTIFICATIONNUMBER: '2',
  NAGIOS_HOSTOUTPUT: 'PING OK - Packet loss = 0%, RTA = 0.41 ms',
};

/** A service notification: "HTTP Health" on sms-api-3 CRITICAL (HARD), problem 4712. */
const SERVICE_CRITICAL_HARD: Record<string, string> = {
  NAGIOS_NOTIFICATIONTYPE: 'PROBLEM',
  NAGIOS_HOSTNAME: 'sms-api-3',
  NAGIOS_HOSTSTATE: 'UP',
  NAGIOS_HOSTSTATETYPE: 'HARD',
  NAGIOS_HOSTPROBLEMID: '0',
  NAGIOS_SERVICEDESC: 'HTTP Health',
  NAGIOS_SERVICESTATE: 'CRITICAL',
  NAGIOS_SERVICESTATEID: '2',
  NAGIOS_SERVICESTATETYPE: 'HARD',
  NAGIOS_SERVICEPROBLEMID: '4712',
  NAGIOS_LASTSERVICEPROBLEMID: '4400',
  NAGIOS_SERVICENOTIFICATIONNUMBER: '1',
  NAGIOS_SERVICEOUTPUT: 'HTTP CRITICAL: HTTP/1.1 503 Service Unavailable',
  NAGIOS_TIMET: TIMET,
  NAGIOS__HOSTLAZARUS_SERVICE: 'sms-api',
};

function map(env: Record<string, string>, more: Partial<Omit<NagiosInput, 'env'>> = {}): NagiosMapping {
  return nagiosEvent({ object: 'host', macros: {}, env, nowMs: NOW, ...more });
}

function eventOf(mapping: NagiosMapping): LzEvent {
  assert.equal(mapping.kind, 'event', JSON.stringify(mapping));
  return mapping.kind === 'event' ? mapping.event : undefined!;
}

function problemsOf(mapping: NagiosMapping): string[] {
  assert.equal(mapping.kind, 'invalid', JSON.stringify(mapping));
  return mapping.kind === 'invalid' ? mapping.problems.map((p) => p.message) : [];
}

/**
 * The macros of `env` that the command reads, named without the `NAGIOS_` prefix: what a command
 * definition passes as `--macro NAME=$NAME$` (a macro it does not read is refused, as a typo would be).
 */
function asArguments(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env)
      .map(([k, v]) => [k.slice('NAGIOS_'.length), v] as const)
      .filter(([k, v]) => v !== '' && MACROS_READ.includes(k)),
  );
}

describe('Nagios notifications as events', () => {
  let matcher: Matcher;
  before(async () => {
    const loaded = await loadConfig(join(REPO, 'deploy', 'local'), defaultCatalog());
    assert.ok(loaded.ok);
    matcher = new Matcher(loaded.config.services);
  });

  /** The event is one the nodes accept, as the bytes the command sends. */
  function valid(event: LzEvent): LzEvent {
    const parsed = parseEvent(JSON.stringify(event));
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.rejection.message);
    return parsed.event;
  }

  test("host DOWN HARD: the seed's NagiosHostAlarm, matched by nagios_host_down, with the page's incident key", () => {
    const event = valid(eventOf(map(HOST_DOWN_HARD)));
    assert.deepEqual(event, {
      id: event.id,
      type: 'NagiosHostAlarm',
      source: 'nagios',
      time: '2026-11-22T03:00:00.000Z',
      environment: 'prod',
      service: 'sms-api',
      host: 'sms-api-2',
      incident_key: 'event_source=host;host_name=sms-api-2',
      data: {
        host_state: 'DOWN',
        host_state_type: 'HARD',
        notification_type: 'PROBLEM',
        problem_id: '4711',
        notification_number: 1,
        output: 'CRITICAL - Host Unreachable (10.0.1.12)',
      },
    });
    assert.match(event.id, /^nagios-host-4711-1-down-[0-9a-f]{12}$/);
    assert.equal(matcher.match(event)?.id, 'sms-api/nagios_host_down');
  });

  test('host UNREACHABLE SOFT: sent as it is; the rule wants HARD, so it matches none', () => {
    const event = valid(eventOf(map(HOST_UNREACHABLE_SOFT)));
    assert.equal(event.data['host_state'], 'UNREACHABLE');
    assert.equal(event.data['host_state_type'], 'SOFT');
    assert.match(event.id, /^nagios-host-4711-1-unreachable-/);
    assert.equal(matcher.match(event), undefined);
    // The same problem once HARD: the rule's other state.
    const hard = valid(eventOf(map({ ...HOST_UNREACHABLE_SOFT, NAGIOS_HOSTSTATETYPE: 'HARD' })));
    assert.equal(matcher.match(hard)?.id, 'sms-api/nagios_host_down');
  });

  test('service CRITICAL HARD: a NagiosServiceAlarm of the host, keyed as PagerDuty keys a service page', () => {
    const event = valid(eventOf(map(SERVICE_CRITICAL_HARD, { object: 'service' })));
    assert.equal(event.type, 'NagiosServiceAlarm');
    assert.equal(event.host, 'sms-api-3');
    assert.equal(event.service, 'sms-api');
    assert.deepEqual(event.data, {
      service_description: 'HTTP Health',
      service_state: 'CRITICAL',
      service_state_type: 'HARD',
      notification_type: 'PROBLEM',
      problem_id: '4712',
      notification_number: 1,
      output: 'HTTP CRITICAL: HTTP/1.1 503 Service Unavailable',
    });
    assert.equal(event.incident_key, 'event_source=service;host_name=sms-api-3;service_desc=HTTP Health');
    // A service description may hold what an id may not (the space): the id stays valid.
    assert.match(event.id, /^nagios-service-4712-1-critical-[0-9a-f]{12}$/);
    // No shipped rule acts on a service alarm (yet): it escalates no_rule.
    assert.equal(matcher.match(event), undefined);
  });

  test('recovery: not sent, the problem is over (no decision, so no "escalated" message to the channels)', () => {
    const reason =
      "the problem is over; nothing to act on (PagerDuty's Nagios integration resolves its page itself)";
    assert.deepEqual(map(HOST_RECOVERY), { kind: 'not_sent', notificationType: 'RECOVERY', reason });
    assert.deepEqual(map(HOST_RECOVERY, { incidentKey: 'PD-1' }), map(HOST_RECOVERY));
    const service = map(
      {
        ...SERVICE_CRITICAL_HARD,
        NAGIOS_NOTIFICATIONTYPE: 'RECOVERY',
        NAGIOS_SERVICESTATE: 'OK',
        NAGIOS_SERVICEPROBLEMID: '0',
        NAGIOS_LASTSERVICEPROBLEMID: '4712',
      },
      { object: 'service' },
    );
    assert.deepEqual(service, { kind: 'not_sent', notificationType: 'RECOVERY', reason });
    // Nothing is sent, so nothing else is asked of it: no other macro, and a state that is not UP is
    // no refusal (there is no event for a wrong state to make act).
    assert.equal(map({ NAGIOS_NOTIFICATIONTYPE: 'RECOVERY' }).kind, 'not_sent');
    assert.equal(map({ ...HOST_RECOVERY, NAGIOS_HOSTSTATE: 'DOWN' }).kind, 'not_sent');
    // From the command line too; a macro it does not read is still refused, as for any notification.
    assert.equal(map({}, { macros: asArguments(HOST_RECOVERY) }).kind, 'not_sent');
    assert.match(
      problemsOf(map(HOST_RECOVERY, { macros: { LASTHOSTPROBLEMID: '4711' } })).join('\n'),
      /^--macro LASTHOSTPROBLEMID: not a macro nagios-notify reads/,
    );
  });

  test('the id: the same notification twice is one event; the next notification, state or problem is another', () => {
    const id = eventOf(map(HOST_DOWN_HARD)).id;
    // Nagios runs the command once per contact, a second later: the same event.
    assert.equal(
      eventOf(map({ ...HOST_DOWN_HARD, NAGIOS_TIMET: String(Number(TIMET) + 1), NAGIOS_CONTACTNAME: 'b' }))
        .id,
      id,
    );
    const others = [
      { ...HOST_DOWN_HARD, NAGIOS_HOSTNOTIFICATIONNUMBER: '2' },
      { ...HOST_DOWN_HARD, NAGIOS_HOSTSTATE: 'UNREACHABLE' },
      { ...HOST_DOWN_HARD, NAGIOS_HOSTPROBLEMID: '4800' },
      // Another Nagios numbers its problems too: the same number about another host is not the same.
      { ...HOST_DOWN_HARD, NAGIOS_HOSTNAME: 'sms-api-4' },
    ].map((env) => eventOf(map(env)).id);
    assert.equal(new Set([id, ...others]).size, 5, [id, ...others].join('\n'));
    // Host names that differ only where an id could not hold them stay apart.
    assert.notEqual(
      eventOf(map({ ...HOST_DOWN_HARD, NAGIOS_HOSTNAME: 'web_1' })).id,
      eventOf(map({ ...HOST_DOWN_HARD, NAGIOS_HOSTNAME: 'web-1' })).id,
    );
  });

  test('macros on the command line give the same event as the environment; they win over it', () => {
    const fromEnv = eventOf(map(HOST_DOWN_HARD));
    const fromArgs = eventOf(map({}, { macros: asArguments(HOST_DOWN_HARD) }));
    assert.deepEqual(fromArgs, fromEnv);
    const mixed = eventOf(
      map(HOST_DOWN_HARD, { macros: { HOSTSTATE: 'UNREACHABLE', _HOSTLAZARUS_SERVICE: 'voice-gateway' } }),
    );
    assert.equal(mixed.data['host_state'], 'UNREACHABLE');
    assert.equal(mixed.service, 'voice-gateway');
    // An empty argument is no value (a macro that does not apply expands to nothing): the
    // environment's is used.
    assert.equal(eventOf(map(HOST_DOWN_HARD, { macros: { HOSTSTATE: '' } })).data['host_state'], 'DOWN');
  });

  test('missing macros: each one named with how to pass it, all at once', () => {
    const problems = problemsOf(map({ NAGIOS_NOTIFICATIONTYPE: 'PROBLEM', NAGIOS_HOSTNAME: 'sms-api-2' }));
    for (const name of ['HOSTSTATE', 'HOSTSTATETYPE', 'HOSTPROBLEMID', 'HOSTNOTIFICATIONNUMBER'])
      assert.ok(
        problems.includes(
          `${name} is missing: give --macro ${name}=$${name}$ in the command definition, or set enable_environment_macros=1 in nagios.cfg so that Nagios passes NAGIOS_${name}`,
        ),
        `${name} in:\n${problems.join('\n')}`,
      );
    assert.ok(
      problems.some((p) =>
        p.startsWith(
          'no Lazarus service for host sms-api-2: give the host the custom variable _LAZARUS_SERVICE (give --macro _HOSTLAZARUS_SERVICE=$_HOSTLAZARUS_SERVICE$',
        ),
      ),
      problems.join('\n'),
    );
    assert.equal(problems.length, 5, problems.join('\n'));
    // Nothing at all: the notification type first.
    assert.match(
      problemsOf(map({}))[0] ?? '',
      /^NOTIFICATIONTYPE is missing: give --macro NOTIFICATIONTYPE=/,
    );
    // A service notification needs its own macros.
    const service = problemsOf(map({ ...HOST_DOWN_HARD, NAGIOS_SERVICEDESC: '' }, { object: 'service' })).map(
      (p) => p.split(' ')[0],
    );
    assert.deepEqual(service, [
      'SERVICEDESC',
      'SERVICESTATE',
      'SERVICESTATETYPE',
      'SERVICEPROBLEMID',
      'SERVICENOTIFICATIONNUMBER',
    ]);
  });

  test('wrong values are refused with what is expected', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ NAGIOS_HOSTSTATE: 'down' }, /^HOSTSTATE is "down": one of UP, DOWN, UNREACHABLE$/],
      [{ NAGIOS_HOSTSTATETYPE: 'FIRM' }, /^HOSTSTATETYPE is "FIRM": one of HARD, SOFT$/],
      [{ NAGIOS_NOTIFICATIONTYPE: 'PANIC' }, /^NOTIFICATIONTYPE is "PANIC": one of PROBLEM, RECOVERY, /],
      // 0 is "no problem": it would make every problem of the host the same event.
      [{ NAGIOS_HOSTPROBLEMID: '0' }, /^HOSTPROBLEMID is "0": a problem id is a number/],
      [{ NAGIOS_HOSTPROBLEMID: '47 11' }, /^HOSTPROBLEMID is "47 11"/],
      [{ NAGIOS_HOSTNOTIFICATIONNUMBER: 'one' }, /^HOSTNOTIFICATIONNUMBER is "one": a number$/],
      [{ NAGIOS_HOSTSTATE: 'UP' }, /^HOSTSTATE is UP in a PROBLEM notification$/],
      [{ NAGIOS_TIMET: 'yesterday' }, /^TIMET is "yesterday": seconds since the epoch$/],
      [{ NAGIOS__HOSTLAZARUS_SERVICE: 'sms api' }, /^_HOSTLAZARUS_SERVICE is "sms api": a service name/],
    ];
    for (const [change, expected] of cases) {
      const problems = problemsOf(map({ ...HOST_DOWN_HARD, ...change }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0] ?? '', expected);
    }
    assert.match(
      problemsOf(map(HOST_DOWN_HARD, { macros: { HOSTSTAT: 'DOWN' } })).join('\n'),
      /^--macro HOSTSTAT: not a macro nagios-notify reads \(it reads .*HOSTSTATE,/,
    );
    assert.equal(
      map({}, { macros: { ...asArguments(HOST_DOWN_HARD), HOSTADDRESS: '10.0.1.12' } }).kind,
      'invalid',
    );
  });

  test('recoveries, acknowledgements, flapping, downtime and custom notifications are not sent, whatever else is missing', () => {
    for (const type of [
      'RECOVERY',
      'ACKNOWLEDGEMENT',
      'FLAPPINGSTART',
      'FLAPPINGSTOP',
      'DOWNTIMESTART',
      'CUSTOM',
    ]) {
      const mapping = map({ NAGIOS_NOTIFICATIONTYPE: type });
      assert.equal(mapping.kind, 'not_sent', type);
      assert.equal(mapping.kind === 'not_sent' ? mapping.notificationType : '', type);
    }
    const ack = map({ ...HOST_DOWN_HARD, NAGIOS_NOTIFICATIONTYPE: 'ACKNOWLEDGEMENT' });
    assert.match(ack.kind === 'not_sent' ? ack.reason : '', /a person acknowledged the problem/);
  });

  test('service and environment: options over the host custom variables over the default', () => {
    const plain = eventOf(map(HOST_DOWN_HARD));
    assert.equal(plain.environment, 'prod');
    const custom = eventOf(map({ ...HOST_DOWN_HARD, NAGIOS__HOSTLAZARUS_ENVIRONMENT: 'stage' }));
    assert.equal(custom.environment, 'stage');
    const flags = eventOf(
      map(
        { ...HOST_DOWN_HARD, NAGIOS__HOSTLAZARUS_ENVIRONMENT: 'stage' },
        { service: 'voice-gateway', environment: 'dev' },
      ),
    );
    assert.deepEqual([flags.service, flags.environment], ['voice-gateway', 'dev']);
    const { NAGIOS__HOSTLAZARUS_SERVICE: _, ...noService } = HOST_DOWN_HARD;
    assert.equal(eventOf(map(noService, { service: 'sms-api' })).service, 'sms-api');
    assert.match(problemsOf(map(noService, { service: 'a b' }))[0] ?? '', /^--service is "a b"/);
  });

  test("incident key: --incident-key, none, or the key of PagerDuty's Nagios integration", () => {
    assert.equal(pagerDutyIncidentKey('host', 'h1'), 'event_source=host;host_name=h1');
    assert.equal(
      pagerDutyIncidentKey('service', 'h1', 'Disk /'),
      'event_source=service;host_name=h1;service_desc=Disk /',
    );
    assert.equal(eventOf(map(HOST_DOWN_HARD, { incidentKey: 'PD-42' })).incident_key, 'PD-42');
    assert.equal(eventOf(map(HOST_DOWN_HARD, { incidentKey: false })).incident_key, undefined);
    assert.match(
      problemsOf(map(HOST_DOWN_HARD, { incidentKey: 'k'.repeat(256) }))[0] ?? '',
      /^the incident key is 256 characters: 1 to 255/,
    );
  });

  test('time: $TIMET$, else $LONGDATETIME$ when it can be read, else now', () => {
    assert.equal(eventOf(map(HOST_DOWN_HARD)).time, '2026-11-22T03:00:00.000Z');
    const { NAGIOS_TIMET: _, ...noTimet } = HOST_DOWN_HARD;
    assert.equal(eventOf(map(noTimet)).time, '2026-11-22T03:00:00.000Z');
    assert.equal(
      eventOf(map({ ...noTimet, NAGIOS_LONGDATETIME: 'Sat Nov 21 21:00:00 CST 2026' })).time,
      '2026-11-22T03:00:00.000Z',
    );
    assert.match(
      problemsOf(map({ ...noTimet, NAGIOS_LONGDATETIME: '22-11-2026 03:00:00 MEZ' }))[0] ?? '',
      /^LONGDATETIME is "22-11-2026 03:00:00 MEZ", which cannot be read as a time: give --macro TIMET=\$TIMET\$ instead$/,
    );
    const { NAGIOS_LONGDATETIME: __, ...neither } = noTimet;
    assert.equal(eventOf(map(neither)).time, new Date(NOW).toISOString());
  });

  test('a long plugin output is cut; the event stays far below the size limit', () => {
    const event = valid(eventOf(map({ ...HOST_DOWN_HARD, NAGIOS_HOSTOUTPUT: 'x'.repeat(20_000) })));
    assert.equal(String(event.data['output']).length, 1024);
  });
});
