/**
 * A PagerDuty-compatible REST API: the subset that the paging module calls, with PagerDuty's checks (the API token, the `From` header on writes) and fault
 * injection (errors, slow answers, rate limiting, an outage). The controller talks to it exactly as it
 * talks to PagerDuty, so the 60 s first-responder race can be staged on one machine.
 *
 * It serves plain HTTP. The pager builds each URL from a configurable base URL
 * (`https://api.pagerduty.com` in production, this simulator's `url` in tests). That keeps TLS
 * certificates out of every test, and the production path (its headers, its body handling, its
 * retries) is the same code either way.
 *
 * PagerDuty API, as PagerDuty's published OpenAPI description (`PagerDuty/api-schema`,
 * `reference/REST/openapiv3.json`) gives it; JSON errors are `{ "error": { "message", "code", "errors"? } }`:
 *
 * - `GET /incidents` with `incident_key`, `statuses[]`, `sort_by` (`created_at|incident_number:asc|desc`),
 *   `limit` (25 when absent, at most 100), `offset`, `total`: `{ incidents, limit, offset, more, total }`,
 *   oldest first unless sorted otherwise.
 * - `GET /incidents/{id}`: `{ incident }`, with no field the spec does not give (no
 *   `escalation_level`): who holds it is `assignments` (the level's user of the escalation policy
 *   `policy`; empty once resolved), `acknowledgements`, `last_status_change_at`/`_by`.
 * - `PUT /incidents/{id}` `{ incident: { type, status?, escalation_level? } }`: `{ incident }`.
 *   Escalating assigns the level's user and re-triggers it; acknowledging (or triggering) a resolved
 *   incident reopens it, as the spec says (acknowledged: assigned to the `From` user).
 * - `PUT /incidents` `{ incidents: [{ id, type, status?, escalation_level? }, ...] }` (at most 250,
 *   413 beyond): `{ incidents, limit, offset, more, total }`; refused whole (400) when any update is.
 * - `GET /incidents/{id}/log_entries` (`limit`, `offset`): trigger, acknowledge, escalate (with
 *   `assignees`), assign, annotate and resolve entries, newest first.
 * - `POST /incidents/{id}/notes` `{ note: { content } }`: 200 `{ note }`.
 * - `GET /users?query=Q` (a match on the name) and `GET /users/me` (the first level's user: the
 *   token is that user's).
 * - 960 requests a minute per user (settable), with `ratelimit-limit`, `ratelimit-remaining` and
 *   `ratelimit-reset` on every answer and a 429 beyond.
 *
 * Every PagerDuty route needs `Authorization: Token token=<one of tokens>` (401 otherwise); writes
 * need a `From` header naming a user (400 otherwise). Test hooks play the other actors: the sensor
 * (`createIncident`), PagerDuty's timer and people (`escalate`, `reassign`, `acknowledgeAs`,
 * `resolveAs`).
 *
 * Simulator API (no token; never hit by faults): `POST /sim/incidents {incident_key, service,
 * title?}` (201), `GET /sim/incidents[?incident_key=]`, `GET /sim/calls`,
 * `POST /sim/faults` with one of `{fail_next: {count, status}}`, `{slow_ms}`,
 * `{rate_limit: {limit, window_ms?}}`, `{down: true}`, and `DELETE /sim/faults`.
 */
import { readBody } from './http-body.js';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LzError } from '../common/errors.js';

/** Codes of the PagerDuty simulator (a test fixture, not part of a node). */
export const PagerDutySimErrorCodes = {
  /** `createIncident` without a key or service, or with a key that already has an open incident. */
  INVALID_INCIDENT: 'LZ_ERR_SIM_PD_INVALID_INCIDENT',
  /** A fault with a bad count, status or duration. */
  INVALID_FAULT: 'LZ_ERR_SIM_PD_INVALID_FAULT',
} as const;

export type IncidentStatus = 'triggered' | 'acknowledged' | 'resolved';

export interface SimNote {
  readonly id: string;
  readonly content: string;
  /** The `From` header of the call that added it. */
  readonly from: string;
  readonly created_at: string;
}

export interface SimIncident {
  readonly id: string;
  readonly incident_number: number;
  readonly incident_key: string;
  readonly service: string;
  readonly title: string;
  readonly status: IncidentStatus;
  /** 1 is the first responder (the controller); PagerDuty's own timer or an escalation raises it. */
  readonly escalation_level: number;
  readonly created_at: string;
  readonly updated_at: string;
  /** Status changes and escalations in order, each with the `From` of the call: the incident's log. */
  readonly log: readonly { readonly at: string; readonly action: string; readonly from: string }[];
  readonly notes: readonly SimNote[];
  /** Who acknowledged it (`From` addresses) since it was last triggered. */
  readonly acknowledgements: readonly { readonly at: string; readonly from: string }[];
}

/** One request to the PagerDuty API (simulator routes are not recorded). */
export interface PagerDutyCall {
  readonly method: string;
  /** Path without the query string, e.g. `/incidents/P000001`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The answer's status; `dropped` when the socket was destroyed (down). */
  readonly status: number | 'dropped';
  readonly from: string | undefined;
  /** The parsed JSON body of a write, when it had one. */
  readonly body: unknown;
  /** Epoch milliseconds at arrival. */
  readonly at: number;
}

export interface PagerDutySimulatorOptions {
  /** @defaultValue `0` (a free port) */
  port?: number;
  /** @defaultValue `'127.0.0.1'` */
  host?: string;
  /** API tokens accepted in `Authorization: Token token=...`. @defaultValue `['sim-token']` */
  tokens?: readonly string[];
  /** `From` addresses accepted on writes; any address with an `@` when absent. */
  users?: readonly string[];
  /**
   * The users of every incident's escalation policy, level by level: level 1 is the first responder
   * (the controller's user, whose user token `tokens[0]` is: `GET /users/me` answers with it), the
   * others are people. A higher `escalation_level` is a 400.
   * @defaultValue `['lazarus@example.com', 'oncall-2@example.com', 'oncall-3@example.com']`
   */
  policy?: readonly string[];
  /**
   * REST requests allowed per user (the `From` user on writes, the token's user otherwise) per
   * minute, as PagerDuty's 960; beyond them a 429 with `ratelimit-limit`, `ratelimit-remaining` and
   * `ratelimit-reset` (seconds until the window resets). `0`: no limit. @defaultValue `960`
   */
  requestsPerMinute?: number;
}

export const DEFAULT_SIM_POLICY: readonly string[] = Object.freeze([
  'lazarus@example.com',
  'oncall-2@example.com',
  'oncall-3@example.com',
]);

export const DEFAULT_SIM_TOKEN = 'sim-token';

const MAX_BODY_BYTES = 64 * 1024;
const MAX_CALLS = 10_000;
/** `PUT /incidents`: "A maximum of 250 incidents may be updated at a time" (413 beyond). */
const MAX_BULK_UPDATES = 250;

interface MutableIncident {
  id: string;
  incident_number: number;
  incident_key: string;
  service: string;
  title: string;
  status: IncidentStatus;
  escalation_level: number;
  created_at: string;
  updated_at: string;
  log: { at: string; action: string; from: string }[];
  notes: SimNote[];
  acknowledgements: { at: string; from: string }[];
  /** Who holds it now (emails); empty once resolved. */
  assignees: string[];
  last_status_change_at: string;
  /** `service` for the sensor's trigger, else the user's email. */
  last_status_change_by: string;
  /** The log entries PagerDuty keeps, oldest first. */
  entries: SimLogEntry[];
}

/** A log entry as the simulator keeps it (see `logEntryView` for PagerDuty's shape). */
interface SimLogEntry {
  readonly id: string;
  readonly type:
    | 'trigger_log_entry'
    | 'acknowledge_log_entry'
    | 'escalate_log_entry'
    | 'assign_log_entry'
    | 'resolve_log_entry'
    | 'annotate_log_entry';
  readonly at: string;
  /** `service` (the sensor's integration), else the acting user's email. */
  readonly agent: string;
  readonly assignees?: readonly string[];
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export class PagerDutySimulator {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #tokens: ReadonlySet<string>;
  readonly #users: ReadonlySet<string> | undefined;
  readonly #policy: readonly string[];
  readonly #tokenUser: string;
  readonly #perMinute: number;
  #entries = 0;
  readonly #incidents: MutableIncident[] = [];
  /** Indexes of #incidents: a benchmark's thousands of pages must not make each call a scan. */
  readonly #byId = new Map<string, MutableIncident>();
  readonly #byKey = new Map<string, MutableIncident[]>();
  #calls: PagerDutyCall[] = [];
  #callsTotal = 0;
  #notes = 0;
  #failNext: { count: number; status: number; path?: string; method?: string } = { count: 0, status: 500 };
  #slowMs = 0;
  #rateLimit:
    { limit: number; windowMs: number; users: Map<string, { start: number; used: number }> } | undefined;
  #down: 'reset' | 'refuse' | undefined;
  #host = '127.0.0.1';
  #port = 0;
  #url = '';
  #closing: Promise<void> | undefined;

  private constructor(options: PagerDutySimulatorOptions) {
    this.#tokens = new Set(options.tokens ?? [DEFAULT_SIM_TOKEN]);
    this.#users = options.users === undefined ? undefined : new Set(options.users);
    this.#policy = options.policy ?? DEFAULT_SIM_POLICY;
    if (this.#policy.length === 0)
      throw new LzError(PagerDutySimErrorCodes.INVALID_FAULT, 'the escalation policy needs a level');
    this.#tokenUser = this.#policy[0]!;
    this.#perMinute = options.requestsPerMinute ?? 960;
    if (this.#perMinute > 0) this.rateLimit(this.#perMinute, 60_000);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (res.headersSent || res.destroyed) res.destroy();
        else
          send(res, { status: 500, body: pdError(error instanceof Error ? error.message : String(error)) });
      });
    });
    // Tracked so that close() and down() can end keep-alive connections at once.
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Starts a simulator on `host:port`; resolves once it accepts connections. */
  static async start(options: PagerDutySimulatorOptions = {}): Promise<PagerDutySimulator> {
    const sim = new PagerDutySimulator(options);
    sim.#host = options.host ?? '127.0.0.1';
    await sim.#listen(options.port ?? 0);
    sim.#port = (sim.#server.address() as AddressInfo).port;
    sim.#url = `http://${sim.#host.includes(':') ? `[${sim.#host}]` : sim.#host}:${sim.#port}`;
    return sim;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`: what the pager's `baseUrl` is set to. */
  get url(): string {
    return this.#url;
  }

  get port(): number {
    return this.#port;
  }

  /**
   * Opens an incident as PagerDuty does when a sensor pages: `triggered`, at escalation level 1.
   * Throws when the key already has an open incident (PagerDuty would fold the page into it).
   */
  createIncident(spec: { incidentKey: string; service: string; title?: string }): SimIncident {
    const { incidentKey, service } = spec;
    if (incidentKey === '' || service === '') {
      throw new LzError(
        PagerDutySimErrorCodes.INVALID_INCIDENT,
        'an incident needs an incident key and a service',
      );
    }
    if ((this.#byKey.get(incidentKey) ?? []).some((i) => i.status !== 'resolved')) {
      throw new LzError(
        PagerDutySimErrorCodes.INVALID_INCIDENT,
        `incident key "${incidentKey}" is already open`,
      );
    }
    const number = this.#incidents.length + 1;
    const now = new Date().toISOString();
    const incident: MutableIncident = {
      id: `P${number.toString(36).toUpperCase().padStart(6, '0')}`,
      incident_number: number,
      incident_key: incidentKey,
      service,
      title: spec.title ?? `${service}: ${incidentKey}`,
      status: 'triggered',
      escalation_level: 1,
      created_at: now,
      updated_at: now,
      log: [{ at: now, action: 'triggered', from: 'sensor' }],
      notes: [],
      acknowledgements: [],
      assignees: [this.#policy[0]!],
      last_status_change_at: now,
      last_status_change_by: 'service',
      entries: [],
    };
    this.#entry(incident, 'trigger_log_entry', 'service', now);
    this.#incidents.push(incident);
    this.#byId.set(incident.id, incident);
    this.#byKey.set(incidentKey, [...(this.#byKey.get(incidentKey) ?? []), incident]);
    return snapshot(incident);
  }

  /** The newest incident with this key (a copy), or `undefined`. */
  incident(incidentKey: string): SimIncident | undefined {
    const found = this.#byKey.get(incidentKey)?.at(-1);
    return found === undefined ? undefined : snapshot(found);
  }

  /**
   * A person acknowledges the open incident of a key (from the app, say): `from` is their address.
   * Throws when the key has no open incident.
   */
  acknowledgeAs(incidentKey: string, from: string): SimIncident {
    const open = this.#open(incidentKey);
    this.#acknowledge(open, from, new Date().toISOString());
    return snapshot(open);
  }

  /**
   * The open incident of a key goes to the next level (or `level`), as PagerDuty's own timer does
   * when nobody acknowledged it in time (`by` absent), or as a person does (`by`: their address).
   */
  escalate(incidentKey: string, options: { by?: string; level?: number } = {}): SimIncident {
    const open = this.#open(incidentKey);
    const level = options.level ?? open.escalation_level + 1;
    if (level < 1 || level > this.#policy.length)
      throw new LzError(PagerDutySimErrorCodes.INVALID_INCIDENT, `no level ${level} in the policy`);
    this.#escalateTo(open, level, options.by ?? 'service', new Date().toISOString());
    return snapshot(open);
  }

  /** A person reassigns the open incident of a key to `to` (an address). */
  reassign(incidentKey: string, by: string, to: string): SimIncident {
    const open = this.#open(incidentKey);
    const now = new Date().toISOString();
    open.assignees = [to];
    open.status = 'triggered';
    open.acknowledgements = [];
    open.updated_at = now;
    open.log.push({ at: now, action: `reassigned to ${to}`, from: by });
    this.#entry(open, 'assign_log_entry', by, now, [to]);
    return snapshot(open);
  }

  /** A person resolves the open incident of a key. */
  resolveAs(incidentKey: string, by: string): SimIncident {
    const open = this.#open(incidentKey);
    this.#resolve(open, by, new Date().toISOString());
    return snapshot(open);
  }

  #open(incidentKey: string): MutableIncident {
    const open = this.#byKey.get(incidentKey)?.findLast((i) => i.status !== 'resolved');
    if (open === undefined)
      throw new LzError(
        PagerDutySimErrorCodes.INVALID_INCIDENT,
        `incident key "${incidentKey}" has no open incident`,
      );
    return open;
  }

  #entry(
    incident: MutableIncident,
    type: SimLogEntry['type'],
    agent: string,
    at: string,
    assignees?: readonly string[],
  ): void {
    this.#entries += 1;
    const id = `R${this.#entries.toString(36).toUpperCase().padStart(6, '0')}`;
    incident.entries.push({ id, type, at, agent, ...(assignees === undefined ? {} : { assignees }) });
  }

  #acknowledge(incident: MutableIncident, from: string, at: string): void {
    if (incident.status === 'resolved') {
      // PagerDuty: acknowledging a resolved incident reopens it, assigned to whoever acknowledged it.
      incident.assignees = [from];
      incident.log.push({ at, action: 'reopened', from });
    }
    incident.status = 'acknowledged';
    // One entry per person: acknowledging again does not list them twice.
    incident.acknowledgements = [...incident.acknowledgements.filter((a) => a.from !== from), { at, from }];
    incident.updated_at = at;
    incident.last_status_change_at = at;
    incident.last_status_change_by = from;
    incident.log.push({ at, action: 'acknowledged', from });
    this.#entry(incident, 'acknowledge_log_entry', from, at);
  }

  #escalateTo(incident: MutableIncident, level: number, by: string, at: string): void {
    // Escalating hands the incident to the next level's people: it is theirs to acknowledge again.
    incident.escalation_level = level;
    incident.status = 'triggered';
    incident.acknowledgements = [];
    incident.assignees = [this.#policy[level - 1]!];
    incident.updated_at = at;
    incident.last_status_change_at = at;
    incident.last_status_change_by = by;
    incident.log.push({ at, action: `escalated to level ${level}`, from: by });
    this.#entry(incident, 'escalate_log_entry', by, at, incident.assignees);
  }

  #resolve(incident: MutableIncident, by: string, at: string): void {
    incident.status = 'resolved';
    incident.acknowledgements = [];
    incident.assignees = [];
    incident.updated_at = at;
    incident.last_status_change_at = at;
    incident.last_status_change_by = by;
    incident.log.push({ at, action: 'resolved', from: by });
    this.#entry(incident, 'resolve_log_entry', by, at);
  }

  incidents(): SimIncident[] {
    return this.#incidents.map(snapshot);
  }

  /** REST calls received since the start, all of them (`calls()` keeps the newest only). */
  get callsTotal(): number {
    return this.#callsTotal;
  }

  /** PagerDuty API requests received, oldest first (the newest 10 000 are kept). */
  calls(): PagerDutyCall[] {
    return [...this.#calls];
  }

  /**
   * The next `count` API requests (to `path` only, e.g. `/users`, when given; with `method` only,
   * e.g. `PUT`, when given) answer `status` (a 429 with `Retry-After: 1`).
   */
  failNext(count: number, status = 500, path?: string, method?: string): void {
    if (!Number.isInteger(count) || count < 0 || !Number.isInteger(status) || status < 400 || status > 599) {
      throw new LzError(
        PagerDutySimErrorCodes.INVALID_FAULT,
        `failNext: bad count ${count} or status ${status}`,
      );
    }
    this.#failNext = {
      count,
      status,
      ...(path === undefined ? {} : { path }),
      ...(method === undefined ? {} : { method }),
    };
  }

  /** Every API answer is held `ms` before it is sent (0: at once). */
  slow(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new LzError(PagerDutySimErrorCodes.INVALID_FAULT, `slow: bad ${ms}`);
    this.#slowMs = ms;
  }

  /**
   * At most `limit` API requests per user (the `From` address on writes, the token's user otherwise)
   * per fixed window; the others get a 429. Every answer carries `ratelimit-limit`,
   * `ratelimit-remaining` and `ratelimit-reset` (whole seconds to the window's end), as PagerDuty's.
   * `undefined` lifts the limit.
   */
  rateLimit(limit: number | undefined, windowMs = 1_000): void {
    if (limit === undefined) {
      this.#rateLimit = undefined;
      return;
    }
    if (!Number.isInteger(limit) || limit < 0 || !(windowMs > 0)) {
      throw new LzError(
        PagerDutySimErrorCodes.INVALID_FAULT,
        `rateLimit: bad limit ${limit} or window ${windowMs}`,
      );
    }
    this.#rateLimit = { limit, windowMs, users: new Map() };
  }

  /**
   * An outage. `reset` (the default): every open connection is destroyed and every new API request
   * is dropped without an answer (the simulator routes still work). `refuse`: the listener closes, so
   * connections are refused, simulator routes included; `up()` listens again on the same port.
   */
  async down(mode: 'reset' | 'refuse' = 'reset'): Promise<void> {
    this.#down = mode;
    for (const socket of this.#sockets) socket.destroy();
    if (mode === 'refuse' && this.#server.listening) {
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
  }

  async up(): Promise<void> {
    const was = this.#down;
    this.#down = undefined;
    if (was === 'refuse' && !this.#server.listening) await this.#listen(this.#port);
  }

  /** Lifts every fault (an outage included). */
  async clearFaults(): Promise<void> {
    this.#failNext = { count: 0, status: 500 };
    this.#slowMs = 0;
    // Back to PagerDuty's own limit (960 a minute by default), counted afresh.
    this.#rateLimit = undefined;
    if (this.#perMinute > 0) this.rateLimit(this.#perMinute, 60_000);
    await this.up();
  }

  /** Stops listening, destroys open sockets and drops held answers; safe to call twice. */
  close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#closing ??= new Promise<void>((resolve, reject) => {
      if (!this.#server.listening) return resolve();
      this.#server.close((error) => (error ? reject(error) : resolve()));
      for (const socket of this.#sockets) socket.destroy();
    });
    return this.#closing;
  }

  #listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, this.#host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://pagerduty.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/sim/')) return send(res, await this.#simRoute(req, method, url));

    const query = Object.fromEntries(url.searchParams.entries());
    const from = header(req, 'from');
    const at = Date.now();
    const text = method === 'PUT' || method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : '';
    const body = parseJson(text);
    const record = (status: number | 'dropped'): void => {
      this.#callsTotal++;
      this.#calls.push(
        Object.freeze({ method, path: url.pathname, query, status, from, body: body.value, at }),
      );
      if (this.#calls.length > MAX_CALLS) this.#calls.splice(0, this.#calls.length - MAX_CALLS);
    };

    if (this.#down !== undefined) {
      record('dropped');
      req.socket.destroy();
      return;
    }
    if (this.#slowMs > 0) {
      await this.#hold(this.#slowMs);
      if (res.destroyed) return record('dropped');
    }
    const limit = this.#countRequest(method === 'GET' ? this.#tokenUser : (from ?? this.#tokenUser));
    const reply =
      limit.refused ?? this.#fault(url.pathname, method) ?? this.#api(req, method, url, from, text, body);
    record(reply.status);
    send(res, { ...reply, headers: { ...limit.headers, ...reply.headers } });
  }

  /** Counts a request of `user` against the rate limit: its headers, and the 429 when it is over. */
  #countRequest(user: string): { headers: Record<string, string>; refused?: Reply } {
    const limit = this.#rateLimit;
    if (limit === undefined) return { headers: {} };
    const now = Date.now();
    let window = limit.users.get(user);
    if (window === undefined || now - window.start >= limit.windowMs) {
      window = { start: now, used: 0 };
      limit.users.set(user, window);
    }
    window.used += 1;
    const reset = Math.max(1, Math.ceil((window.start + limit.windowMs - now) / 1_000));
    const headers = {
      'ratelimit-limit': String(limit.limit),
      'ratelimit-remaining': String(Math.max(0, limit.limit - window.used)),
      'ratelimit-reset': String(reset),
    };
    if (window.used <= limit.limit) return { headers };
    return { headers, refused: { status: 429, body: pdError('Rate Limit Exceeded', 2020) } };
  }

  /** An injected answer for this request, if a fault says so. */
  #fault(path: string, method: string): Reply | undefined {
    const armed = this.#failNext;
    if (
      armed.count > 0 &&
      (armed.path === undefined || armed.path === path) &&
      (armed.method === undefined || armed.method === method)
    ) {
      this.#failNext.count -= 1;
      const { status } = this.#failNext;
      return {
        status,
        ...(status === 429 ? { headers: { 'retry-after': '1' } } : {}),
        body: pdError(status === 429 ? 'Rate Limit Exceeded' : 'Internal Server Error (injected)'),
      };
    }
    return undefined;
  }

  #api(
    req: IncomingMessage,
    method: string,
    url: URL,
    from: string | undefined,
    text: string | undefined,
    body: { value: unknown; ok: boolean },
  ): Reply {
    const auth = /^Token token=(.+)$/.exec(header(req, 'authorization') ?? '')?.[1];
    if (auth === undefined || !this.#tokens.has(auth)) {
      return { status: 401, body: pdError('Unauthorized', 2006) };
    }
    const write = method === 'PUT' || method === 'POST';
    if (write) {
      if (
        from === undefined ||
        !from.includes('@') ||
        (this.#users !== undefined && !this.#users.has(from))
      ) {
        const why = from === undefined ? 'A "From" header is required' : `Requester User Not Found: ${from}`;
        return { status: 400, body: pdError('Invalid Input Provided', 2001, [why]) };
      }
      if (text === undefined) return { status: 413, body: pdError('Request Entity Too Large') };
      if (!body.ok)
        return { status: 400, body: pdError('Invalid Input Provided', 2001, ['Body is not JSON']) };
    }
    const path = url.pathname;
    if (path === '/incidents' && method === 'GET') return this.#list(url);
    if (path === '/incidents' && method === 'PUT') return this.#updateMany(body.value, from ?? '');
    if (path === '/users' && method === 'GET') return this.#listUsers(url);
    if (path === '/users/me' && method === 'GET')
      return { status: 200, body: { user: userView(this.#tokenUser) } };
    const entries = /^\/incidents\/([^/]+)\/log_entries$/.exec(path);
    if (entries !== null && method === 'GET') {
      const of = this.#byId.get(entries[1] ?? '');
      if (of === undefined) return { status: 404, body: pdError('Not Found', 2100) };
      // Newest first, as PagerDuty lists them (the spec states no order: the pager does not rely on it).
      const page = paged(url, [...of.entries].reverse());
      if ('error' in page) return page.error;
      return {
        status: 200,
        body: { log_entries: page.items.map((e) => logEntryView(of, e)), ...page.envelope },
      };
    }
    const match = /^\/incidents\/([^/]+)(\/notes)?$/.exec(path);
    const incident = match === null ? undefined : this.#byId.get(match[1] ?? '');
    if (match !== null && incident === undefined) return { status: 404, body: pdError('Not Found', 2100) };
    if (incident !== undefined && match?.[2] === undefined) {
      if (method === 'GET') return { status: 200, body: { incident: this.#view(incident) } };
      if (method === 'PUT') return this.#update(incident, body.value, from ?? '');
    }
    if (incident !== undefined && match?.[2] !== undefined && method === 'POST') {
      return this.#addNote(incident, body.value, from ?? '');
    }
    return { status: 404, body: pdError(`Not Found: ${method} ${path}`, 2100) };
  }

  /**
   * `GET /incidents`: `incident_key`, `statuses[]` (repeated), `sort_by` (`created_at`,
   * `incident_number` or `resolved_at`, `:asc` by default or `:desc`), `limit` (25 when absent, at most
   * 100), `offset`, `total`; answers `{ incidents, limit, offset, more, total }`.
   */
  #list(url: URL): Reply {
    const key = url.searchParams.get('incident_key');
    const statuses = url.searchParams.getAll('statuses[]');
    const bad = statuses.find((st) => !['triggered', 'acknowledged', 'resolved'].includes(st));
    if (bad !== undefined)
      return { status: 400, body: pdError('Invalid Input Provided', 2001, [`statuses[] ${bad}`]) };
    const sort = (url.searchParams.get('sort_by') ?? 'created_at:asc').split(',')[0] ?? '';
    const [field, direction = 'asc'] = sort.split(':');
    if (
      !['created_at', 'incident_number', 'resolved_at'].includes(field ?? '') ||
      !['asc', 'desc'].includes(direction)
    )
      return { status: 400, body: pdError('Invalid Input Provided', 2001, [`sort_by ${sort}`]) };
    // created_at and incident_number order alike here (incidents are numbered as they are created).
    const matching = (key === null ? this.#incidents : (this.#byKey.get(key) ?? [])).filter(
      (i) => statuses.length === 0 || statuses.includes(i.status),
    );
    const ordered = direction === 'desc' ? [...matching].reverse() : matching;
    const page = paged(url, ordered);
    if ('error' in page) return page.error;
    return { status: 200, body: { incidents: page.items.map((i) => this.#view(i)), ...page.envelope } };
  }

  #listUsers(url: URL): Reply {
    const query = (url.searchParams.get('query') ?? '').toLowerCase();
    const known = [...new Set([...this.#policy, ...(this.#users ?? [])])];
    // PagerDuty matches `query` on the name (here the address' local part), not on the email.
    const users = known.filter((email) => nameOf(email).toLowerCase().includes(query)).map(userView);
    return { status: 200, body: { users, limit: 25, offset: 0, more: false, total: null } };
  }

  #update(incident: MutableIncident, body: unknown, from: string): Reply {
    const planned = this.#plan(incident, field(body, 'incident'), from);
    if ('refused' in planned) return invalidInput(planned.refused);
    planned.apply();
    return { status: 200, body: { incident: this.#view(incident) } };
  }

  /**
   * `PUT /incidents` `{ incidents: [{ id, type, status?, escalation_level? }, ...] }`: at most 250
   * (413 beyond, as the spec says). Its 200 means "all of the updates succeeded" and the spec gives
   * no partial answer, so here a request with any update that would be refused (an unknown id, a bad
   * field, a resolved incident set to resolved) is refused whole (400, each refusal named by its
   * index) and changes nothing. The pager does not rely on that: it sends every update of a refused
   * request again on its own.
   */
  #updateMany(body: unknown, from: string): Reply {
    const items = field(body, 'incidents');
    if (!Array.isArray(items) || items.length === 0)
      return invalidInput('incidents must be a non-empty array of incident references');
    if (items.length > MAX_BULK_UPDATES)
      return {
        status: 413,
        body: pdError(
          `Request Entity Too Large: at most ${MAX_BULK_UPDATES} incidents may be updated at a time`,
        ),
      };
    const refusals: string[] = [];
    const plans: { incident: MutableIncident; apply: () => void }[] = [];
    items.forEach((item: unknown, i) => {
      const id = field(item, 'id');
      const incident = typeof id === 'string' ? this.#byId.get(id) : undefined;
      if (incident === undefined) {
        refusals.push(`incidents[${i}]: no incident with id ${JSON.stringify(id)}`);
        return;
      }
      const planned = this.#plan(incident, item, from);
      if ('refused' in planned) refusals.push(`incidents[${i}] (${incident.id}): ${planned.refused}`);
      else plans.push({ incident, apply: planned.apply });
    });
    if (refusals.length > 0) return { status: 400, body: pdError('Invalid Input Provided', 2001, refusals) };
    for (const plan of plans) plan.apply();
    return {
      status: 200,
      body: {
        incidents: plans.map((plan) => this.#view(plan.incident)),
        limit: plans.length,
        offset: 0,
        more: false,
        total: null,
      },
    };
  }

  /** What an incident update (`{ type, status?, escalation_level? }`) would do, or why it is refused. */
  #plan(
    incident: MutableIncident,
    update: unknown,
    from: string,
  ): { refused: string } | { apply: () => void } {
    if (field(update, 'type') !== 'incident_reference') {
      return { refused: 'incident.type must be "incident_reference"' };
    }
    const status = field(update, 'status');
    const rawLevel = field(update, 'escalation_level');
    if (status === undefined && rawLevel === undefined) {
      return { refused: 'incident needs a status or an escalation_level' };
    }
    if (
      status !== undefined &&
      status !== 'acknowledged' &&
      status !== 'resolved' &&
      status !== 'triggered'
    ) {
      return {
        refused: `incident.status must be acknowledged, resolved or triggered (got ${JSON.stringify(status)})`,
      };
    }
    const level = typeof rawLevel === 'number' && Number.isInteger(rawLevel) ? rawLevel : undefined;
    if (rawLevel !== undefined && (level === undefined || level < 1 || level > this.#policy.length)) {
      return {
        refused: `incident.escalation_level must be a level of the policy, 1 to ${this.#policy.length}`,
      };
    }
    if (incident.status === 'resolved') {
      // PagerDuty reopens a resolved incident that is acknowledged or triggered again; nothing else.
      if (status === 'acknowledged')
        return { apply: () => this.#acknowledge(incident, from, new Date().toISOString()) };
      if (status === 'triggered')
        return { apply: () => this.#escalateTo(incident, 1, from, new Date().toISOString()) };
      return { refused: 'Incident Already Resolved' };
    }
    return {
      apply: () => {
        const now = new Date().toISOString();
        if (level !== undefined) this.#escalateTo(incident, level, from, now);
        if (status === 'acknowledged') this.#acknowledge(incident, from, now);
        if (status === 'resolved') this.#resolve(incident, from, now);
      },
    };
  }

  #addNote(incident: MutableIncident, body: unknown, from: string): Reply {
    const content = field(field(body, 'note'), 'content');
    if (typeof content !== 'string' || content === '') return invalidInput('note.content is required');
    this.#notes += 1;
    const note: SimNote = {
      id: `N${this.#notes.toString(36).toUpperCase().padStart(6, '0')}`,
      content,
      from,
      created_at: new Date().toISOString(),
    };
    incident.notes.push(note);
    this.#entry(incident, 'annotate_log_entry', from, note.created_at);
    return {
      status: 200,
      body: {
        note: {
          id: note.id,
          user: userRef(from),
          content,
          created_at: note.created_at,
        },
      },
    };
  }

  async #simRoute(req: IncomingMessage, method: string, url: URL): Promise<Reply> {
    const path = url.pathname;
    if (path === '/sim/incidents' && method === 'GET') {
      const key = url.searchParams.get('incident_key');
      return { status: 200, body: this.incidents().filter((i) => key === null || i.incident_key === key) };
    }
    if (path === '/sim/calls' && method === 'GET') return { status: 200, body: this.calls() };
    if (path === '/sim/faults' && method === 'DELETE') {
      await this.clearFaults();
      return { status: 204 };
    }
    if ((path === '/sim/incidents' || path === '/sim/faults') && method === 'POST') {
      const text = await readBody(req, MAX_BODY_BYTES);
      const body = parseJson(text);
      if (!body.ok) return { status: 400, body: pdError('body must be JSON') };
      try {
        if (path === '/sim/incidents') {
          const key = field(body.value, 'incident_key');
          const service = field(body.value, 'service');
          const title = field(body.value, 'title');
          if (typeof key !== 'string' || typeof service !== 'string') {
            return { status: 400, body: pdError('incident_key and service are required strings') };
          }
          const spec = { incidentKey: key, service, ...(typeof title === 'string' ? { title } : {}) };
          return { status: 201, body: this.createIncident(spec) };
        }
        return await this.#postFault(body.value);
      } catch (error) {
        if (error instanceof LzError) return { status: 400, body: pdError(error.message) };
        throw error;
      }
    }
    return { status: 404, body: pdError(`no route for ${method} ${path}`) };
  }

  async #postFault(fault: unknown): Promise<Reply> {
    const failNext = field(fault, 'fail_next');
    const slowMs = field(fault, 'slow_ms');
    const rateLimit = field(fault, 'rate_limit');
    if (failNext !== undefined) {
      this.failNext(Number(field(failNext, 'count')), Number(field(failNext, 'status') ?? 500));
    } else if (slowMs !== undefined) {
      this.slow(Number(slowMs));
    } else if (rateLimit !== undefined) {
      this.rateLimit(Number(field(rateLimit, 'limit')), Number(field(rateLimit, 'window_ms') ?? 1_000));
    } else if (field(fault, 'down') === true) {
      // Only `reset` over HTTP: a refused listener could not be told to come back.
      await this.down('reset');
    } else {
      return { status: 400, body: pdError('fault: one of fail_next, slow_ms, rate_limit, down') };
    }
    return { status: 201, body: fault };
  }

  /** The incident as PagerDuty's API shows it (no invented fields: no `escalation_level`). */
  #view(i: MutableIncident): Record<string, unknown> {
    const first = i.entries[0];
    return {
      id: i.id,
      type: 'incident',
      summary: `[#${i.incident_number}] ${i.title}`,
      self: `${this.#url}/incidents/${i.id}`,
      html_url: `https://sim.pagerduty.invalid/incidents/${i.id}`,
      incident_number: i.incident_number,
      title: i.title,
      status: i.status,
      incident_key: i.incident_key,
      urgency: 'high',
      created_at: i.created_at,
      updated_at: i.updated_at,
      resolved_at: i.status === 'resolved' ? i.last_status_change_at : null,
      service: { id: serviceId(i.service), type: 'service_reference', summary: i.service },
      escalation_policy: { id: 'PSIMEP1', type: 'escalation_policy_reference', summary: 'simulated policy' },
      assigned_via: 'escalation_policy',
      assignments: i.assignees.map((email) => ({ at: i.last_status_change_at, assignee: userRef(email) })),
      acknowledgements: i.acknowledgements.map((a) => ({ at: a.at, acknowledger: userRef(a.from) })),
      last_status_change_at: i.last_status_change_at,
      last_status_change_by:
        i.last_status_change_by === 'service'
          ? { id: serviceId(i.service), type: 'service_reference', summary: i.service }
          : userRef(i.last_status_change_by),
      ...(first === undefined
        ? {}
        : { first_trigger_log_entry: { id: first.id, type: 'trigger_log_entry_reference' } }),
      alert_counts: {
        all: 1,
        triggered: i.status === 'resolved' ? 0 : 1,
        resolved: i.status === 'resolved' ? 1 : 0,
      },
      teams: [],
    };
  }

  /** Waits `ms`, on a timer that close() clears so that a held answer never keeps a test alive. */
  #hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }
}

/** A user's id, derived from their address: the same address is always the same user. */
export function simUserId(email: string): string {
  const digest = createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 8);
  return `PU${parseInt(digest, 16).toString(36).toUpperCase().padStart(7, '0')}`;
}

function nameOf(email: string): string {
  return email.split('@')[0] ?? email;
}

function userView(email: string): Record<string, unknown> {
  const id = simUserId(email);
  return {
    id,
    type: 'user',
    summary: nameOf(email),
    name: nameOf(email),
    email,
    self: `/users/${id}`,
    role: 'user',
  };
}

function userRef(email: string): Record<string, unknown> {
  const id = simUserId(email);
  return { id, type: 'user_reference', summary: nameOf(email), self: `/users/${id}` };
}

function serviceId(service: string): string {
  return `PSVC${createHash('sha256').update(service).digest('hex').slice(0, 6).toUpperCase()}`;
}

function logEntryView(i: MutableIncident, e: SimLogEntry): Record<string, unknown> {
  const agent =
    e.agent === 'service'
      ? { id: serviceId(i.service), type: 'service_reference', summary: i.service }
      : userRef(e.agent);
  return {
    id: e.id,
    type: e.type,
    summary: `${e.type.replace(/_log_entry$/, '')} by ${e.agent === 'service' ? i.service : nameOf(e.agent)}`,
    created_at: e.at,
    agent,
    channel: {
      type: e.agent === 'service' ? (e.type === 'escalate_log_entry' ? 'timeout' : 'api') : 'website',
    },
    incident: { id: i.id, type: 'incident_reference' },
    service: { id: serviceId(i.service), type: 'service_reference', summary: i.service },
    ...(e.assignees === undefined ? {} : { assignees: e.assignees.map(userRef) }),
  };
}

/** One page of `items` by the request's `limit` (25 when absent, at most 100) and `offset`. */
function paged<T>(
  url: URL,
  items: readonly T[],
): { items: T[]; envelope: Record<string, unknown> } | { error: Reply } {
  const limit = Number(url.searchParams.get('limit') ?? 25);
  const offset = Number(url.searchParams.get('offset') ?? 0);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100 || !Number.isInteger(offset) || offset < 0)
    return {
      error: {
        status: 400,
        body: pdError('Invalid Input Provided', 2001, ['limit is 1 to 100, offset at least 0']),
      },
    };
  const total = url.searchParams.get('total') === 'true' ? items.length : null;
  return {
    items: items.slice(offset, offset + limit),
    envelope: { limit, offset, more: offset + limit < items.length, total },
  };
}

function snapshot(i: MutableIncident): SimIncident {
  return structuredClone(i);
}

function field(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return (value as Record<string, unknown>)[name];
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function pdError(message: string, code?: number, errors?: string[]): { error: Record<string, unknown> } {
  return {
    error: { message, ...(code === undefined ? {} : { code }), ...(errors === undefined ? {} : { errors }) },
  };
}

function invalidInput(why: string): Reply {
  return { status: 400, body: pdError('Invalid Input Provided', 2001, [why]) };
}

function parseJson(text: string | undefined): { value: unknown; ok: boolean } {
  if (text === undefined || text === '') return { value: undefined, ok: text === '' };
  try {
    return { value: JSON.parse(text) as unknown, ok: true };
  } catch {
    return { value: undefined, ok: false };
  }
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  if (reply.body === undefined) return void res.writeHead(reply.status, reply.headers).end();
  const text = JSON.stringify(reply.body);
  res
    .writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...reply.headers,
    })
    .end(text);
}
