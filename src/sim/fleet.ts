/**
 * A simulated fleet behind real HTTP: an inventory, one health-check endpoint per host, the
 * orchestrator API that remediation workflows call, and an API to inject faults. Controller nodes
 * query and drive it exactly as they would a real fleet, so quorum checks, partial partitions,
 * downstream outages and whole host replacements can be staged on one machine without mocks.
 *
 * Partitions are staged per source address: every controller node sends from its own loopback address
 * (127.0.0.1, 127.0.0.2, ...; on Linux all of 127.0.0.0/8 is loopback), and an `unreachable` fault
 * drops only the requests from one of them, which is what a 2-of-3 quorum has to survive.
 *
 * HTTP API (JSON bodies; errors are `{ "error": { "code", "message" } }`):
 *
 * - `GET /health/{host}`: 200, or 503 with a `reason` (`forensics`, `booting`, `never_healthy`,
 *   `host_down`, `downstream`); 404 for an unknown host.
 * - `GET /v1/inventory[?service=]`: every host with zone, state and health URL, replacements included.
 * - `GET|POST|DELETE /v1/faults`, `GET /v1/health-requests[?host=]`: fault injection and the health log.
 * - The orchestrator (orchestrator.ts), every call logged (`orchestratorRequests()`,
 *   `GET /v1/orchestrator/requests[?path=]`): `POST /v1/lb/remove`, `/v1/lb/add`, `/v1/hosts/clone`
 *   (idempotent by `request_id`), `/v1/hosts/forensics` with `{service, host}`; a call with a
 *   `Lazarus-Fencing-Token` lower than the highest seen for its `Lazarus-Lock-Resource` is a 409
 *   `stale_fencing_token`, and nothing is done;
 *   `POST /v1/services/{service}/promote-standby {failed_host}`,
 *   `POST /v1/services/{service}/allocation/exclude {host}`. Unknown body fields and missing ones are
 *   400s naming the field; an unknown service or host is a 404.
 * - `GET|POST /v1/orchestrator/config {boot_delay_ms}`: how long a replacement boots before its
 *   health check answers 200.
 */
import { createHash } from 'node:crypto';
import { readBody } from './http-body.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { LzError } from '../common/errors.js';
import {
  isOrchestratorFault,
  isOrchestratorFaultKind,
  isOrchestratorPath,
  SimOrchestrator,
  type FleetHost,
  type OrchestratorAnswer,
  type OrchestratorFault,
  type OrchestratorRequest,
} from './orchestrator.js';

export type { FleetHost, HostState, OrchestratorFault, OrchestratorRequest } from './orchestrator.js';
export { OrchestratorErrorCodes } from './orchestrator.js';

/** Codes of the fleet simulator (kept here: the simulator is a test fixture, not part of a node). */
export const SimErrorCodes = {
  /** The fleet spec has a bad service count or no zones. */
  INVALID_SPEC: 'LZ_ERR_SIM_INVALID_SPEC',
  /** A fault has an unknown kind, a missing field, or names an unknown host or service. */
  INVALID_FAULT: 'LZ_ERR_SIM_INVALID_FAULT',
  /** `hosts(service)` was asked for a service the fleet does not have. */
  UNKNOWN_SERVICE: 'LZ_ERR_SIM_UNKNOWN_SERVICE',
} as const;

export interface FleetSpec {
  /** service -> number of hosts; hosts are named `${service}-${n}` (1-based), zones assigned round-robin from `zones`. */
  readonly services: Readonly<Record<string, number>>;
  /** @defaultValue `['local-1a', 'local-1b', 'local-1c']` */
  readonly zones?: readonly string[];
}

/** The fleet of the local setup (the `local` profile's services). */
export const LOCAL_FLEET: FleetSpec = Object.freeze({
  services: Object.freeze({ 'sms-api': 6, 'voice-gateway': 4, 'billing-web': 2, search: 5, 'ledger-db': 6 }),
});

export type Fault =
  /** The host's health check answers 503 to everyone. */
  | { kind: 'host_down'; host: string }
  /** Requests from source address `from` get no answer (the socket is destroyed); everyone else sees a healthy host. */
  | { kind: 'unreachable'; host: string; from: string }
  /** Every host of the service answers 503. */
  | { kind: 'downstream'; service: string }
  /** `boot_fails`, `boot_hangs`, `never_healthy`: see orchestrator.ts. */
  | OrchestratorFault;

export interface HealthRequest {
  readonly host: string;
  /** Source address of the request, with any `::ffff:` prefix removed. */
  readonly from: string;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly status: number | 'dropped';
}

export interface FleetSimulatorOptions {
  /** @defaultValue `LOCAL_FLEET` */
  spec?: FleetSpec;
  /** @defaultValue `0` (a free port) */
  port?: number;
  /** @defaultValue `'127.0.0.1'` */
  host?: string;
  /**
   * How long a replacement from `hosts/clone` stays `booting` (health check 503) before it turns
   * `out_of_lb` and healthy; also `setBootDelay()` and `POST /v1/orchestrator/config`.
   * @defaultValue `500`
   */
  bootDelayMs?: number;
}

const DEFAULT_ZONES: readonly string[] = ['local-1a', 'local-1b', 'local-1c'];
const MAX_BODY_BYTES = 64 * 1024;
// A long scenario polls health checks thousands of times; keep the newest entries, not all of them.
const MAX_LOG_ENTRIES = 10_000;
const FAULT_FIELDS: Readonly<Record<Fault['kind'], readonly string[]>> = {
  host_down: ['kind', 'host'],
  unreachable: ['kind', 'host', 'from'],
  downstream: ['kind', 'service'],
  boot_fails: ['kind', 'service'],
  boot_hangs: ['kind', 'service'],
  never_healthy: ['kind', 'service'],
};

export class FleetSimulator {
  readonly #server: Server;
  readonly #hosts: Map<string, FleetHost>;
  readonly #orchestrator: SimOrchestrator;
  readonly #sockets = new Set<Socket>();
  #faults: Fault[] = [];
  #log: HealthRequest[] = [];
  #healthRequestsTotal = 0;
  #url = '';
  #port = 0;
  #closing: Promise<void> | undefined;

  private constructor(hosts: Map<string, FleetHost>, bootDelayMs: number | undefined) {
    this.#hosts = hosts;
    this.#orchestrator = new SimOrchestrator(
      {
        hosts,
        healthUrl: (id) => this.#healthUrl(id),
        failure: (host) => this.#failure(host),
        faults: () => this.#faults.filter(isOrchestratorFault),
      },
      bootDelayMs,
    );
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (res.headersSent || res.destroyed) res.destroy();
        else sendError(res, 500, 'internal', error instanceof Error ? error.message : String(error));
      });
    });
    // Tracked so that close() can end keep-alive connections; otherwise it waits for clients to hang up.
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Starts a simulator listening on `host:port`; resolves once it accepts connections. */
  static async start(options: FleetSimulatorOptions = {}): Promise<FleetSimulator> {
    const sim = new FleetSimulator(buildHosts(options.spec ?? LOCAL_FLEET), options.bootDelayMs);
    const bind = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      sim.#server.once('error', reject);
      sim.#server.listen(options.port ?? 0, bind, () => {
        sim.#server.off('error', reject);
        resolve();
      });
    });
    sim.#port = (sim.#server.address() as AddressInfo).port;
    sim.#url = `http://${bind.includes(':') ? `[${bind}]` : bind}:${sim.#port}`;
    return sim;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return this.#url;
  }

  get port(): number {
    return this.#port;
  }

  /** The live host objects (all, or one service's, replacements included); throws for an unknown service. */
  hosts(service?: string): FleetHost[] {
    const all = [...this.#hosts.values()];
    if (service === undefined) return all;
    const some = all.filter((h) => h.service === service);
    if (some.length === 0) throw new LzError(SimErrorCodes.UNKNOWN_SERVICE, `no service "${service}"`);
    return some;
  }

  /** Adds a fault (an identical one already present is not added twice); throws for an unknown host/service. */
  inject(fault: Fault): void {
    this.#add(this.#validate(fault));
  }

  clear(): void {
    this.#faults = [];
  }

  faults(): Fault[] {
    return this.#faults.map((f) => ({ ...f }));
  }

  /** Health-check requests received since the start, all of them (the log keeps the newest only). */
  get healthRequestsTotal(): number {
    return this.#healthRequestsTotal;
  }

  /** Health-check requests received, oldest first (the newest 10 000 are kept). */
  healthRequests(host?: string): HealthRequest[] {
    return this.#log.filter((r) => host === undefined || r.host === host).map((r) => ({ ...r }));
  }

  /** Orchestrator calls received, oldest first (the newest 10 000 are kept); `path` narrows to one endpoint. */
  orchestratorRequests(path?: string): OrchestratorRequest[] {
    return this.#orchestrator.requests(path);
  }

  /** Every `POST /v1/hosts/clone` received, duplicates and failures included. */
  clones(): OrchestratorRequest[] {
    return this.#orchestrator.requests('/v1/hosts/clone');
  }

  /** Hosts excluded from shard allocation through `POST /v1/services/{service}/allocation/exclude`. */
  excludedHosts(): string[] {
    return this.#orchestrator.excluded();
  }

  get bootDelayMs(): number {
    return this.#orchestrator.bootDelayMs;
  }

  /** Sets the boot delay of replacements booted from now on; throws unless a whole number of ms in [0, 600 000]. */
  setBootDelay(ms: number): void {
    this.#orchestrator.setBootDelay(ms);
  }

  /**
   * Stops listening and destroys open sockets, so it never waits for clients, not even for a clone held
   * open by `boot_hangs`. Safe to call twice.
   */
  close(): Promise<void> {
    this.#orchestrator.close();
    this.#closing ??= new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      for (const socket of this.#sockets) socket.destroy();
    });
    return this.#closing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fleet.invalid');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const health = /^\/health\/([^/]+)$/.exec(path)?.[1];
    if (method === 'GET' && health !== undefined) return this.#health(req, res, health);
    if (method === 'GET' && path === '/v1/inventory') {
      return this.#inventory(res, url.searchParams.get('service'));
    }
    if (path === '/v1/faults') {
      if (method === 'GET') return send(res, 200, this.faults());
      if (method === 'DELETE') {
        this.clear();
        return send(res, 204);
      }
      if (method === 'POST') return this.#postFault(req, res);
    }
    if (method === 'GET' && path === '/v1/health-requests') {
      return send(res, 200, this.healthRequests(url.searchParams.get('host') ?? undefined));
    }
    if (method === 'POST' && isOrchestratorPath(path)) {
      const token = req.headers['lazarus-fencing-token'];
      const resource = req.headers['lazarus-lock-resource'];
      const fence =
        token === undefined
          ? undefined
          : { token: String(token), resource: resource === undefined ? undefined : String(resource) };
      return answer(res, this.#orchestrator.call(path, await readBody(req, MAX_BODY_BYTES), fence));
    }
    if (method === 'GET' && path === '/v1/orchestrator/requests') {
      return send(res, 200, this.orchestratorRequests(url.searchParams.get('path') ?? undefined));
    }
    if (path === '/v1/orchestrator/config') {
      if (method === 'GET') return send(res, 200, { boot_delay_ms: this.bootDelayMs });
      if (method === 'POST')
        return answer(res, this.#orchestrator.configure(await readBody(req, MAX_BODY_BYTES)));
    }
    sendError(res, 404, 'not_found', `no route for ${method} ${path}`);
  }

  #health(req: IncomingMessage, res: ServerResponse, rawId: string): void {
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      return sendError(res, 404, 'unknown_host', `no host at ${JSON.stringify(rawId)}`);
    }
    const from = normaliseAddress(req.socket.remoteAddress ?? '');
    const host = this.#hosts.get(id);
    if (host === undefined) {
      this.#record(id, from, 404);
      return sendError(res, 404, 'unknown_host', `fleet has no host "${id}"`);
    }
    if (this.#faults.some((f) => f.kind === 'unreachable' && f.host === id && f.from === from)) {
      this.#record(id, from, 'dropped');
      req.socket.destroy();
      return;
    }
    const reason = this.#failure(host);
    this.#record(id, from, reason === undefined ? 200 : 503);
    if (reason === undefined) send(res, 200, { status: 'ok', host: id });
    else send(res, 503, { status: 'failing', host: id, reason });
  }

  /** Why the host's health check answers 503 to everyone; `undefined` when it answers 200. */
  #failure(host: FleetHost): string | undefined {
    if (host.state === 'forensics') return 'forensics';
    if (host.state === 'booting')
      return this.#orchestrator.neverHealthy(host.id) ? 'never_healthy' : 'booting';
    return this.#faults.find(
      (f) =>
        (f.kind === 'host_down' && f.host === host.id) ||
        (f.kind === 'downstream' && f.service === host.service),
    )?.kind;
  }

  #healthUrl(id: string): string {
    return `${this.#url}/health/${encodeURIComponent(id)}`;
  }

  #inventory(res: ServerResponse, only: string | null): void {
    const services: Record<string, { hosts: object[] }> = {};
    for (const host of this.#hosts.values()) {
      if (only !== null && host.service !== only) continue;
      (services[host.service] ??= { hosts: [] }).hosts.push({
        id: host.id,
        zone: host.zone,
        state: host.state,
        health_url: this.#healthUrl(host.id),
        instance_id: instanceIdOf(host.id),
      });
    }
    if (only !== null && services[only] === undefined) {
      return sendError(res, 404, 'unknown_service', `fleet has no service "${only}"`);
    }
    send(res, 200, { services });
  }

  async #postFault(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req, MAX_BODY_BYTES);
    if (text === undefined) {
      return sendError(res, 413, 'payload_too_large', `request body is over ${MAX_BODY_BYTES} bytes`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return sendError(res, 400, 'invalid_json', 'request body is not valid JSON');
    }
    let fault: Fault;
    try {
      fault = this.#validate(body);
    } catch (error) {
      if (error instanceof LzError) return sendError(res, 400, 'invalid_fault', error.message);
      throw error;
    }
    this.#add(fault);
    send(res, 201, fault);
  }

  /** Checks an untrusted fault and returns a fresh one with only its own fields. */
  #validate(input: unknown): Fault {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid('fault: not an object');
    const o = input as Record<string, unknown>;
    const kind = o['kind'];
    const kinds = Object.keys(FAULT_FIELDS).join(', ');
    if (!isFaultKind(kind)) invalid(`fault.kind: must be one of ${kinds} (got ${JSON.stringify(kind)})`);
    // Reject rather than ignore unknown fields: a typo such as `hostname` would otherwise inject nothing.
    for (const key of Object.keys(o)) {
      if (!FAULT_FIELDS[kind].includes(key)) invalid(`fault.${key}: unknown field for kind ${kind}`);
    }
    if (kind === 'downstream') return { kind, service: this.#knownService(o) };
    // An orchestrator fault without a service hits every service.
    if (isOrchestratorFaultKind(kind)) {
      return o['service'] === undefined ? { kind } : { kind, service: this.#knownService(o) };
    }
    const host = requireString(o, 'host');
    if (!this.#hosts.has(host)) invalid(`fault.host: unknown host "${host}"`);
    if (kind === 'host_down') return { kind, host };
    const from = normaliseAddress(requireString(o, 'from'));
    if (isIP(from) === 0) invalid(`fault.from: must be an IP address (got "${from}")`);
    return { kind, host, from };
  }

  #knownService(o: Record<string, unknown>): string {
    const service = requireString(o, 'service');
    if (![...this.#hosts.values()].some((h) => h.service === service)) {
      invalid(`fault.service: unknown service "${service}"`);
    }
    return service;
  }

  #add(fault: Fault): void {
    const key = JSON.stringify(fault);
    if (!this.#faults.some((f) => JSON.stringify(f) === key)) this.#faults.push(fault);
  }

  #record(host: string, from: string, status: number | 'dropped'): void {
    this.#healthRequestsTotal++;
    this.#log.push({ host, from, at: Date.now(), status });
    if (this.#log.length > MAX_LOG_ENTRIES) this.#log.splice(0, this.#log.length - MAX_LOG_ENTRIES);
  }
}

function buildHosts(spec: FleetSpec): Map<string, FleetHost> {
  const zones = spec.zones ?? DEFAULT_ZONES;
  if (zones.length === 0) throw new LzError(SimErrorCodes.INVALID_SPEC, 'fleet spec: no zones');
  const hosts = new Map<string, FleetHost>();
  for (const [service, count] of Object.entries(spec.services)) {
    if (service === '' || !Number.isInteger(count) || count < 0) {
      const message = `fleet spec: service "${service}" needs a name and a whole number of hosts, not ${count}`;
      throw new LzError(SimErrorCodes.INVALID_SPEC, message);
    }
    for (let n = 1; n <= count; n++) {
      const id = `${service}-${n}`;
      hosts.set(id, { id, service, zone: zones[(n - 1) % zones.length]!, state: 'active' });
    }
  }
  return hosts;
}

function isFaultKind(value: unknown): value is Fault['kind'] {
  return typeof value === 'string' && Object.hasOwn(FAULT_FIELDS, value);
}

function requireString(o: Record<string, unknown>, field: string): string {
  const value = o[field];
  if (typeof value !== 'string' || value === '') invalid(`fault.${field}: required, a non-empty string`);
  return value;
}

function invalid(message: string): never {
  throw new LzError(SimErrorCodes.INVALID_FAULT, `invalid fault: ${message}`);
}

/** A dual-stack socket reports IPv4 peers as `::ffff:127.0.0.2`; faults name them as `127.0.0.2`. */
function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) return void res.writeHead(status).end();
  const text = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  };
  res.writeHead(status, headers).end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

/** `no_answer` (a `boot_hangs` clone) holds the request open: close() destroys its socket. */
function answer(res: ServerResponse, reply: OrchestratorAnswer): void {
  if (reply.status !== 'no_answer') send(res, reply.status, reply.body);
}

/** The simulated EC2 instance id of a host (`i-` and 17 hex digits, the same for the same host id). */
export function instanceIdOf(hostId: string): string {
  return `i-${createHash('sha256').update(hostId).digest('hex').slice(0, 17)}`;
}
