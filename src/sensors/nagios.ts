/**
 * Nagios as a sensor: the macros of a host or service notification turned into the event envelope
 * (`NagiosHostAlarm`, `NagiosServiceAlarm`), or every reason they cannot be, each naming the macro
 * and how to pass it. Pure: the macros, the options and the clock come in; nothing is read or sent
 * here (`lazarus nagios-notify` does that).
 *
 * Where the macros come from (Nagios Core's "Standard Macros", "Custom Object Variables" and its
 * `macros.c`): a notification command gets them on its command line (`$HOSTSTATE$`, expanded by
 * Nagios), and with `enable_environment_macros=1` in nagios.cfg also as environment variables named
 * `NAGIOS_` and the macro's name (`NAGIOS_HOSTSTATE`). A host's custom variable `_FOO` is the macro
 * `$_HOSTFOO$` and the variable `NAGIOS__HOSTFOO`. A macro given on the command line wins over the
 * environment; an empty value is no value (Nagios sets the macros that do not apply to empty).
 *
 * What each notification becomes:
 * - `PROBLEM`: the alarm, with the state as Nagios has it (the rules decide what a SOFT state is
 *   worth), and the incident key of the page Nagios raised through PagerDuty's integration.
 * - `RECOVERY`: not sent. The problem is over and there is nothing to act on (PagerDuty's Nagios
 *   integration resolves its page itself), as the Alertmanager adapter ignores a resolved alert.
 *   Sent, it would match no rule and be decided `escalate` (`no_rule`), and every escalation tells
 *   the service's channels: an "escalated" message about a problem that has gone away.
 * - Everything else (ACKNOWLEDGEMENT, FLAPPING*, DOWNTIME*, CUSTOM) is not sent either: each still
 *   carries the problem's DOWN/CRITICAL state, so as an alarm it would match the rule that a PROBLEM
 *   matches, about a problem that a person has taken, that is flapping, or that is planned.
 */
import { createHash } from 'node:crypto';
import type { LzEvent } from '../events/schema.js';

export type NagiosObject = 'host' | 'service';

export interface NagiosInput {
  /** Which command this is: one of `host_notification_commands` or `service_notification_commands`. */
  readonly object: NagiosObject;
  /** Macros from the command line, by name without the `$`s (`HOSTSTATE`, `_HOSTLAZARUS_SERVICE`). */
  readonly macros: Readonly<Record<string, string>>;
  /** The process environment, where Nagios puts its environment macros (`NAGIOS_HOSTSTATE`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The Lazarus service. @defaultValue the host's custom variable `_LAZARUS_SERVICE` */
  readonly service?: string;
  /** @defaultValue the host's custom variable `_LAZARUS_ENVIRONMENT`, else {@link DEFAULT_ENVIRONMENT} */
  readonly environment?: string;
  /**
   * The incident key of the page; `false`: none (nothing is acknowledged or escalated).
   * @defaultValue the key PagerDuty's Nagios integration gives the page ({@link pagerDutyIncidentKey})
   */
  readonly incidentKey?: string | false;
  /** The event's time when the notification gives neither `$TIMET$` nor `$LONGDATETIME$`. */
  readonly nowMs: number;
}

/** One reason the notification cannot be an event. */
export interface MacroProblem {
  /** The macro (`HOSTSTATE`), or the option (`--service`), it is about. */
  readonly macro: string;
  readonly message: string;
}

export type NagiosMapping =
  | { readonly kind: 'event'; readonly event: LzEvent }
  | { readonly kind: 'not_sent'; readonly notificationType: string; readonly reason: string }
  | { readonly kind: 'invalid'; readonly problems: readonly MacroProblem[] };

export const DEFAULT_ENVIRONMENT = 'prod';
/** The host's custom variables (`_LAZARUS_SERVICE` in the host definition), as macros. */
export const SERVICE_MACRO = '_HOSTLAZARUS_SERVICE';
export const ENVIRONMENT_MACRO = '_HOSTLAZARUS_ENVIRONMENT';
/** How much of the plugin's output goes into the event (Nagios' own first line may be far longer). */
const MAX_OUTPUT = 1024;

const COMMON = ['NOTIFICATIONTYPE', 'HOSTNAME', 'TIMET', 'LONGDATETIME', SERVICE_MACRO, ENVIRONMENT_MACRO];
const PER_OBJECT = {
  host: {
    state: 'HOSTSTATE',
    stateType: 'HOSTSTATETYPE',
    problemId: 'HOSTPROBLEMID',
    number: 'HOSTNOTIFICATIONNUMBER',
    output: 'HOSTOUTPUT',
    states: ['UP', 'DOWN', 'UNREACHABLE'],
    ok: 'UP',
  },
  service: {
    state: 'SERVICESTATE',
    stateType: 'SERVICESTATETYPE',
    problemId: 'SERVICEPROBLEMID',
    number: 'SERVICENOTIFICATIONNUMBER',
    output: 'SERVICEOUTPUT',
    states: ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'],
    ok: 'OK',
  },
} as const;

/** Every macro read, for either kind of notification: a name given on the command line must be one. */
export const MACROS_READ: readonly string[] = Object.freeze(
  [
    ...COMMON,
    'SERVICEDESC',
    ...Object.values(PER_OBJECT).flatMap((o) => [o.state, o.stateType, o.problemId, o.number, o.output]),
  ].sort(),
);

/** Nagios' notification types (`$NOTIFICATIONTYPE$`) that are not sent, and why. */
const NOT_SENT: Readonly<Record<string, string>> = {
  RECOVERY:
    "the problem is over; nothing to act on (PagerDuty's Nagios integration resolves its page itself)",
  ACKNOWLEDGEMENT:
    "a person acknowledged the problem: it is theirs (PagerDuty's Nagios integration acknowledges the page, and the controller stands back from a page a person has)",
  FLAPPINGSTART: 'flapping says the state keeps changing, not that there is a new problem to act on',
  FLAPPINGSTOP: 'flapping says the state keeps changing, not that there is a new problem to act on',
  FLAPPINGDISABLED: 'flapping says the state keeps changing, not that there is a new problem to act on',
  DOWNTIMESTART: 'scheduled downtime is planned work: people are at the host',
  DOWNTIMEEND: 'scheduled downtime is planned work: people are at the host',
  DOWNTIMECANCELLED: 'scheduled downtime is planned work: people are at the host',
  CUSTOM: 'a custom notification is a message from a person, not a check result',
};

/**
 * The incident key PagerDuty's Nagios integration gives a page (`pd-nagios` of
 * PagerDuty/pdagent-integrations, the agent of PagerDuty's Nagios guide, when not given `-i`):
 * `event_source=host;host_name=H` and `event_source=service;host_name=H;service_desc=S`. PagerDuty
 * folds a host's later PROBLEM notifications into that open page, and RECOVERY resolves it.
 */
export function pagerDutyIncidentKey(
  object: NagiosObject,
  host: string,
  serviceDescription?: string,
): string {
  return object === 'host'
    ? `event_source=host;host_name=${host}`
    : `event_source=service;host_name=${host};service_desc=${serviceDescription ?? ''}`;
}

/** The notification's event, the reason it is not sent, or every problem with its macros. */
export function nagiosEvent(input: NagiosInput): NagiosMapping {
  const problems: MacroProblem[] = [];
  for (const name of Object.keys(input.macros))
    if (!MACROS_READ.includes(name))
      problems.push({
        macro: name,
        message: `--macro ${name}: not a macro nagios-notify reads (it reads ${MACROS_READ.join(', ')})`,
      });
  const macro = (name: string): string | undefined => {
    for (const value of [input.macros[name], input.env[`NAGIOS_${name}`]])
      if (value !== undefined && value !== '') return value;
    return undefined;
  };
  const required = (name: string): string | undefined => {
    const value = macro(name);
    if (value === undefined)
      problems.push({ macro: name, message: `${name} is missing: ${howToPass(name)}` });
    return value;
  };
  const oneOf = (name: string, allowed: readonly string[]): string | undefined => {
    const value = required(name);
    if (value === undefined || allowed.includes(value)) return value;
    problems.push({ macro: name, message: `${name} is "${value}": one of ${allowed.join(', ')}` });
    return undefined;
  };

  const type = required('NOTIFICATIONTYPE');
  const notSent = type === undefined ? undefined : NOT_SENT[type];
  // Not sent: the other macros do not matter (an acknowledgement need not name a Lazarus service,
  // and a recovery whose state is not UP (OK) is not refused: nothing of it is sent to act on).
  if (type !== undefined && notSent !== undefined)
    return problems.length > 0
      ? { kind: 'invalid', problems }
      : { kind: 'not_sent', notificationType: type, reason: notSent };
  if (type !== undefined && type !== 'PROBLEM')
    problems.push({
      macro: 'NOTIFICATIONTYPE',
      message: `NOTIFICATIONTYPE is "${type}": one of PROBLEM, ${Object.keys(NOT_SENT).join(', ')}`,
    });

  const o = PER_OBJECT[input.object];
  const host = required('HOSTNAME');
  if (host !== undefined && host.length > 255)
    problems.push({ macro: 'HOSTNAME', message: `HOSTNAME is ${host.length} characters: at most 255` });
  const description = input.object === 'service' ? required('SERVICEDESC') : undefined;
  const state = oneOf(o.state, o.states);
  const stateType = oneOf(o.stateType, ['HARD', 'SOFT']);
  // A problem is of something that is not UP (OK): otherwise the command was fed the wrong macros.
  if (type === 'PROBLEM' && state === o.ok)
    problems.push({ macro: o.state, message: `${o.state} is ${state} in a PROBLEM notification` });

  // The problem's id keeps one problem's notifications apart from the next problem's: 0 (what
  // Nagios gives while there is no problem) would make every problem of the host the same event.
  const problemId = required(o.problemId);
  if (problemId !== undefined && (!/^[A-Za-z0-9-]{1,64}$/.test(problemId) || /^0+$/.test(problemId)))
    problems.push({
      macro: o.problemId,
      message: `${o.problemId} is "${problemId}": a problem id is a number (Nagios) or a UUID (Naemon), not 0`,
    });
  const number = required(o.number);
  if (number !== undefined && !/^[0-9]{1,9}$/.test(number))
    problems.push({ macro: o.number, message: `${o.number} is "${number}": a number` });

  const service = input.service ?? macro(SERVICE_MACRO);
  if (service === undefined)
    problems.push({
      macro: SERVICE_MACRO,
      message: `no Lazarus service for host ${host ?? '(unknown)'}: give the host the custom variable _LAZARUS_SERVICE (${howToPass(SERVICE_MACRO)}), or --service NAME`,
    });
  else if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(service))
    problems.push({
      macro: input.service === undefined ? SERVICE_MACRO : '--service',
      message: `${input.service === undefined ? SERVICE_MACRO : '--service'} is "${service}": a service name is letters, digits, ".", "_" and "-", at most 128`,
    });
  const environment = input.environment ?? macro(ENVIRONMENT_MACRO) ?? DEFAULT_ENVIRONMENT;
  if (environment.length > 32)
    problems.push({
      macro: input.environment === undefined ? ENVIRONMENT_MACRO : '--environment',
      message: `the environment "${environment}" is ${environment.length} characters: at most 32`,
    });

  const time = eventTime(macro('TIMET'), macro('LONGDATETIME'), input.nowMs, problems);

  let incidentKey: string | undefined;
  if (input.incidentKey !== false && host !== undefined) {
    incidentKey = input.incidentKey ?? pagerDutyIncidentKey(input.object, host, description);
    if (incidentKey.length === 0 || incidentKey.length > 255)
      problems.push({
        macro: '--incident-key',
        message: `the incident key is ${incidentKey.length} characters: 1 to 255 (give --incident-key KEY, or --no-incident-key)`,
      });
  }

  if (problems.length > 0) return { kind: 'invalid', problems };
  // Every required value is there once no problem was found.
  const output = macro(o.output)?.slice(0, MAX_OUTPUT);
  const data: Record<string, unknown> =
    input.object === 'host'
      ? { host_state: state, host_state_type: stateType }
      : { service_description: description, service_state: state, service_state_type: stateType };
  Object.assign(data, {
    notification_type: type,
    problem_id: problemId,
    notification_number: Number(number),
    ...(output === undefined ? {} : { output }),
  });
  const event: LzEvent = {
    id: eventId(input.object, host!, description, problemId!, number!, state!),
    type: input.object === 'host' ? 'NagiosHostAlarm' : 'NagiosServiceAlarm',
    source: 'nagios',
    time,
    environment,
    service: service!,
    host: host!,
    ...(incidentKey === undefined ? {} : { incident_key: incidentKey }),
    data,
  };
  return { kind: 'event', event };
}

/**
 * The event's id: the same for the same notification (Nagios runs the command once per contact, and
 * a command run twice sends it twice: the controller decides it once), new for the next
 * notification of the problem, its next state and the next problem. Nagios' problem ids are unique
 * only within one Nagios, so the host (and service) are in it too, as a digest: host names and
 * service descriptions may hold characters an id may not (spaces), and replacing them could make
 * two hosts one.
 */
export function eventId(
  object: NagiosObject,
  host: string,
  serviceDescription: string | undefined,
  problemId: string,
  notificationNumber: string,
  state: string,
): string {
  const digest = createHash('sha256')
    .update(`${host}\n${serviceDescription ?? ''}`)
    .digest('hex')
    .slice(0, 12);
  return `nagios-${object}-${problemId}-${notificationNumber}-${state.toLowerCase()}-${digest}`;
}

/**
 * `$TIMET$` (epoch seconds), else `$LONGDATETIME$` when it reads as a time (its format is
 * nagios.cfg's `date_format`, its zone an abbreviation such as CDT: only some of them can be read),
 * else now: both macros are the time Nagios ran the command, which is now.
 */
function eventTime(
  timet: string | undefined,
  longDateTime: string | undefined,
  nowMs: number,
  problems: MacroProblem[],
): string {
  if (timet !== undefined) {
    if (/^[0-9]{1,12}$/.test(timet)) return new Date(Number(timet) * 1000).toISOString();
    problems.push({ macro: 'TIMET', message: `TIMET is "${timet}": seconds since the epoch` });
    return '';
  }
  if (longDateTime !== undefined) {
    const ms = Date.parse(longDateTime);
    if (Number.isFinite(ms)) return new Date(ms).toISOString();
    problems.push({
      macro: 'LONGDATETIME',
      message: `LONGDATETIME is "${longDateTime}", which cannot be read as a time: give --macro TIMET=$TIMET$ instead`,
    });
    return '';
  }
  return new Date(nowMs).toISOString();
}

/** How to give a macro the command lacks: on its command line, or as Nagios' environment macro. */
export function howToPass(name: string): string {
  return `give --macro ${name}=$${name}$ in the command definition, or set enable_environment_macros=1 in nagios.cfg so that Nagios passes NAGIOS_${name}`;
}
