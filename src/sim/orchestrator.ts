/**
 * The orchestrator of the simulated fleet: the API that remediation workflows call to take hosts out
 * of the load balancer and put them back, boot replacements, retire failed hosts into forensics,
 * promote a standby and exclude a node from shard allocation.
 *
 * It owns the host lifecycle, which is why the host types live here (fleet.ts re-exports them):
 *
 *     active ⇄ out_of_lb                   lb/remove, lb/add
 *     clone → booting → out_of_lb → active   healthy after `bootDelayMs`, then lb/add
 *     any state → forensics                hosts/forensics (lb/add refuses it afterwards)
 *
 * `FleetSimulator` serves it over HTTP; this module holds the state and the rules and answers each
 * request as a status and a JSON body, logging every call so that a test can tell whether a workflow
 * step ran and how many times.
 */
import { LzError } from '../common/errors.js';

export type HostState = 'active' | 'out_of_lb' | 'forensics' | 'booting';

export interface FleetHost {
  readonly id: string;
  readonly service: string;
  readonly zone: string;
  /** Mutable on purpose: `hosts()` hands out the live objects, so a test can move a host to `forensics`. */
  state: HostState;
}

export type OrchestratorFault =
  /** `hosts/clone` answers 500 and boots nothing. `service` omitted: every service. */
  | { kind: 'boot_fails'; service?: string }
  /** `hosts/clone` never answers (the request is held until the client gives up) and boots nothing. */
  | { kind: 'boot_hangs'; service?: string }
  /**
   * `hosts/clone` boots a replacement whose health check answers 503 for good: it stays `booting`,
   * even after the fault is cleared (a bad image does not heal), so `lb/add` refuses it.
   */
  | { kind: 'never_healthy'; service?: string };

export const ORCHESTRATOR_FAULT_KINDS: readonly OrchestratorFault['kind'][] = [
  'boot_fails',
  'boot_hangs',
  'never_healthy',
];

/** Codes of the simulated orchestrator; the HTTP `error.code` is the code without `LZ_ERR_SIM_`, lower case. */
export const OrchestratorErrorCodes = {
  /** A body field is missing, not a non-empty string, or unknown; the message names it. */
  INVALID_REQUEST: 'LZ_ERR_SIM_INVALID_REQUEST',
  INVALID_JSON: 'LZ_ERR_SIM_INVALID_JSON',
  PAYLOAD_TOO_LARGE: 'LZ_ERR_SIM_PAYLOAD_TOO_LARGE',
  UNKNOWN_SERVICE: 'LZ_ERR_SIM_UNKNOWN_SERVICE',
  /** The host does not exist, or is not a host of the service named with it. */
  UNKNOWN_HOST: 'LZ_ERR_SIM_UNKNOWN_HOST',
  /** `lb/add` of a host in forensics: it is kept out for the on-call engineers. */
  HOST_IN_FORENSICS: 'LZ_ERR_SIM_HOST_IN_FORENSICS',
  /** `lb/add` of a host that has not come up healthy yet. */
  HOST_BOOTING: 'LZ_ERR_SIM_HOST_BOOTING',
  /** A `request_id` already used to replace another host. */
  REQUEST_ID_CONFLICT: 'LZ_ERR_SIM_REQUEST_ID_CONFLICT',
  /** `promote-standby` found no other healthy host in the service. */
  NO_STANDBY: 'LZ_ERR_SIM_NO_STANDBY',
  /** The injected `boot_fails` fault. */
  BOOT_FAILED: 'LZ_ERR_SIM_BOOT_FAILED',
  /**
   * The call's `Lazarus-Fencing-Token` is lower than the highest this orchestrator has seen for its
   * `Lazarus-Lock-Resource`: the caller's lock was taken by a newer remediation; nothing is done.
   */
  STALE_FENCING_TOKEN: 'LZ_ERR_SIM_STALE_FENCING_TOKEN',
} as const;

type OrchestratorErrorCode = (typeof OrchestratorErrorCodes)[keyof typeof OrchestratorErrorCodes];

const HTTP_STATUS: Readonly<Record<OrchestratorErrorCode, number>> = {
  LZ_ERR_SIM_INVALID_REQUEST: 400,
  LZ_ERR_SIM_INVALID_JSON: 400,
  LZ_ERR_SIM_PAYLOAD_TOO_LARGE: 413,
  LZ_ERR_SIM_UNKNOWN_SERVICE: 404,
  LZ_ERR_SIM_UNKNOWN_HOST: 404,
  LZ_ERR_SIM_HOST_IN_FORENSICS: 409,
  LZ_ERR_SIM_HOST_BOOTING: 409,
  LZ_ERR_SIM_REQUEST_ID_CONFLICT: 409,
  LZ_ERR_SIM_NO_STANDBY: 409,
  LZ_ERR_SIM_BOOT_FAILED: 500,
  LZ_ERR_SIM_STALE_FENCING_TOKEN: 409,
};

export interface OrchestratorRequest {
  /** e.g. `/v1/hosts/clone`. */
  readonly path: string;
  /** The JSON body; the raw text when it is not JSON; `undefined` when it was too large. */
  readonly body: unknown;
  /** `'no_answer'`: held open by `boot_hangs`. */
  readonly status: number | 'no_answer';
  /** Epoch milliseconds. */
  readonly at: number;
  /** The call's fencing token and lock resource, when it carried them. */
  readonly fence?: Fence;
}

/** A call's `Lazarus-Fencing-Token` and `Lazarus-Lock-Resource` headers, as sent. */
export interface Fence {
  readonly token: string;
  readonly resource: string | undefined;
}

export type OrchestratorAnswer =
  { readonly status: number; readonly body: unknown } | { readonly status: 'no_answer' };

/** What the orchestrator needs from the fleet around it. */
export interface OrchestratorDeps {
  /** The fleet's live hosts; `clone` adds its replacements here. */
  readonly hosts: Map<string, FleetHost>;
  /** Full URL of a host's health check. */
  healthUrl(id: string): string;
  /** Why the host's health check answers 503 to everyone right now; `undefined` when it answers 200. */
  failure(host: FleetHost): string | undefined;
  /** The orchestrator faults in force. */
  faults(): readonly OrchestratorFault[];
}

/** @defaultValue of `bootDelayMs`: long enough that a poller sees a 503 first, short enough for unit tests. */
export const DEFAULT_BOOT_DELAY_MS = 500;
const MAX_BOOT_DELAY_MS = 600_000;
// A scenario may make many calls; keep the newest entries, not all of them.
const MAX_LOG_ENTRIES = 10_000;

type Route = 'lb_remove' | 'lb_add' | 'clone' | 'forensics' | 'promote_standby' | 'allocation_exclude';

const PATHS: Readonly<Record<string, Route>> = {
  '/v1/lb/remove': 'lb_remove',
  '/v1/lb/add': 'lb_add',
  '/v1/hosts/clone': 'clone',
  '/v1/hosts/forensics': 'forensics',
};
const SERVICE_PATH = /^\/v1\/services\/([^/]+)\/(promote-standby|allocation\/exclude)$/;
const SERVICE_ROUTES: Readonly<Record<string, Route>> = {
  'promote-standby': 'promote_standby',
  'allocation/exclude': 'allocation_exclude',
};

const FIELDS: Readonly<Record<Route, { required: readonly string[]; optional: readonly string[] }>> = {
  lb_remove: { required: ['service', 'host'], optional: [] },
  lb_add: { required: ['service', 'host'], optional: [] },
  clone: { required: ['service', 'host'], optional: ['request_id', 'role', 'replace_address'] },
  forensics: { required: ['service', 'host'], optional: [] },
  promote_standby: { required: ['failed_host'], optional: [] },
  allocation_exclude: { required: ['host'], optional: [] },
};

interface Replacement {
  readonly host: FleetHost;
  readonly replaces: string;
  readonly neverHealthy: boolean;
  /** The clone request's optional fields, echoed in every answer about this replacement. */
  readonly extra: Readonly<Record<string, string>>;
}

/** Whether `POST path` is an orchestrator call. */
export function isOrchestratorPath(path: string): boolean {
  return Object.hasOwn(PATHS, path) || SERVICE_PATH.test(path);
}

export function isOrchestratorFaultKind(kind: string): kind is OrchestratorFault['kind'] {
  return (ORCHESTRATOR_FAULT_KINDS as readonly string[]).includes(kind);
}

export function isOrchestratorFault(fault: { kind: string }): fault is OrchestratorFault {
  return isOrchestratorFaultKind(fault.kind);
}

export class SimOrchestrator {
  readonly #deps: OrchestratorDeps;
  readonly #replacements = new Map<string, Replacement>();
  readonly #byRequestId = new Map<string, Replacement>();
  readonly #counters = new Map<string, number>();
  readonly #excluded = new Set<string>();
  /** The highest fencing token seen per lock resource. */
  readonly #fences = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #log: OrchestratorRequest[] = [];
  #bootDelayMs = DEFAULT_BOOT_DELAY_MS;

  constructor(deps: OrchestratorDeps, bootDelayMs = DEFAULT_BOOT_DELAY_MS) {
    this.#deps = deps;
    this.setBootDelay(bootDelayMs);
  }

  get bootDelayMs(): number {
    return this.#bootDelayMs;
  }

  /** Applies to replacements booted from now on. */
  setBootDelay(ms: number, field = 'bootDelayMs'): void {
    if (!Number.isInteger(ms) || ms < 0 || ms > MAX_BOOT_DELAY_MS) {
      const message = `${field}: must be a whole number of milliseconds from 0 to ${MAX_BOOT_DELAY_MS}`;
      throw new LzError(OrchestratorErrorCodes.INVALID_REQUEST, message);
    }
    this.#bootDelayMs = ms;
  }

  /** Answers `POST /v1/orchestrator/config {boot_delay_ms}` (a simulator control, not logged). */
  configure(text: string | undefined): OrchestratorAnswer {
    try {
      const body = fieldsOf(parseBody(text), { required: [], optional: ['boot_delay_ms'] }, false);
      const ms = body['boot_delay_ms'];
      if (ms !== undefined) this.setBootDelay(typeof ms === 'number' ? ms : Number.NaN, 'body.boot_delay_ms');
      return { status: 200, body: { boot_delay_ms: this.#bootDelayMs } };
    } catch (error) {
      return errorAnswer(error);
    }
  }

  /** Whether a replacement was booted under `never_healthy` (its health check answers 503 for good). */
  neverHealthy(id: string): boolean {
    return this.#replacements.get(id)?.neverHealthy ?? false;
  }

  /** Hosts excluded from shard allocation, in the order they were excluded. */
  excluded(): string[] {
    return [...this.#excluded];
  }

  /** Calls received, oldest first (the newest 10 000 are kept); `path` narrows to one endpoint. */
  requests(path?: string): OrchestratorRequest[] {
    return this.#log.filter((r) => path === undefined || r.path === path).map((r) => ({ ...r }));
  }

  /** Answers `POST path` with body `text` (`undefined`: over the size limit) and logs the call. */
  call(path: string, text: string | undefined, fence?: Fence): OrchestratorAnswer {
    let body: unknown = text;
    let answer: OrchestratorAnswer;
    try {
      if (fence !== undefined) this.#checkFence(fence);
      body = parseBody(text);
      answer = this.#dispatch(path, body);
    } catch (error) {
      answer = errorAnswer(error);
    }
    this.#log.push({
      path,
      body,
      status: answer.status,
      at: Date.now(),
      ...(fence === undefined ? {} : { fence }),
    });
    if (this.#log.length > MAX_LOG_ENTRIES) this.#log.splice(0, this.#log.length - MAX_LOG_ENTRIES);
    return answer;
  }

  /**
   * Fencing (Kleppmann's "How to do distributed locking"): a token lower than the highest seen for
   * the resource is refused before anything is done. A call without a token is served (a run
   * without a lock: `lazarus run-workflow`); a real orchestrator may refuse those too.
   */
  #checkFence(fence: Fence): void {
    const token = /^[1-9][0-9]{0,15}$/.test(fence.token) ? Number(fence.token) : Number.NaN;
    if (!Number.isSafeInteger(token) || fence.resource === undefined || fence.resource === '')
      throw new LzError(
        OrchestratorErrorCodes.INVALID_REQUEST,
        'Lazarus-Fencing-Token must be a positive integer, sent with a Lazarus-Lock-Resource',
      );
    const highest = this.#fences.get(fence.resource) ?? 0;
    if (token < highest)
      throw new LzError(
        OrchestratorErrorCodes.STALE_FENCING_TOKEN,
        `fencing token ${token} for ${fence.resource} is older than ${highest}, the highest seen: ` +
          'a newer remediation holds the lock; nothing was done',
      );
    this.#fences.set(fence.resource, token);
  }

  /** Cancels pending boots, so that no timer outlives the simulator. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #dispatch(path: string, input: unknown): OrchestratorAnswer {
    const match = SERVICE_PATH.exec(path);
    const route = match === null ? PATHS[path] : SERVICE_ROUTES[match[2]!];
    if (route === undefined) throw new Error(`not an orchestrator path: ${path}`);
    const body = fieldsOf(input, FIELDS[route]) as Record<string, string>;
    const service = match === null ? body['service']! : decodeService(match[1]!);
    switch (route) {
      case 'lb_remove': {
        const host = this.#host(service, body['host']!);
        if (host.state === 'active') host.state = 'out_of_lb';
        return ok(200, lbView(host));
      }
      case 'lb_add': {
        const host = this.#host(service, body['host']!);
        if (host.state === 'forensics') {
          conflict(
            'HOST_IN_FORENSICS',
            `host "${host.id}" is in forensics and stays out of the load balancer`,
          );
        }
        if (host.state === 'booting') {
          conflict('HOST_BOOTING', `host "${host.id}" is still booting: wait for its health check first`);
        }
        host.state = 'active';
        return ok(200, lbView(host));
      }
      case 'forensics': {
        const host = this.#host(service, body['host']!);
        host.state = 'forensics';
        return ok(200, lbView(host));
      }
      case 'clone':
        return this.#clone(this.#host(service, body['host']!), body);
      case 'promote_standby':
        return this.#promote(this.#host(service, body['failed_host']!));
      case 'allocation_exclude': {
        const host = this.#host(service, body['host']!);
        this.#excluded.add(host.id);
        return ok(200, { host: host.id, service, excluded: true });
      }
    }
  }

  #clone(failed: FleetHost, body: Readonly<Record<string, string>>): OrchestratorAnswer {
    const requestId = body['request_id'];
    const earlier = requestId === undefined ? undefined : this.#byRequestId.get(requestId);
    // Checked before the faults: a retry of a clone that did boot gets that host, whatever fails now.
    if (earlier !== undefined) {
      if (earlier.replaces !== failed.id) {
        const message = `request_id "${requestId}" already booted ${earlier.host.id} to replace ${earlier.replaces}, not ${failed.id}`;
        conflict('REQUEST_ID_CONFLICT', message);
      }
      return ok(200, this.#cloneView(earlier));
    }
    const faults = this.#deps
      .faults()
      .filter((f) => f.service === undefined || f.service === failed.service)
      .map((f) => f.kind);
    if (faults.includes('boot_hangs')) return { status: 'no_answer' };
    if (faults.includes('boot_fails')) {
      const message = `boot of a replacement for ${failed.id} failed (injected boot_fails)`;
      throw new LzError(OrchestratorErrorCodes.BOOT_FAILED, message, { retryable: true });
    }
    const host: FleetHost = {
      id: this.#nextId(failed.service),
      service: failed.service,
      zone: failed.zone,
      state: 'booting',
    };
    const extra: Record<string, string> = {};
    for (const field of FIELDS.clone.optional) if (body[field] !== undefined) extra[field] = body[field];
    const replacement: Replacement = {
      host,
      replaces: failed.id,
      neverHealthy: faults.includes('never_healthy'),
      extra,
    };
    this.#deps.hosts.set(host.id, host);
    this.#replacements.set(host.id, replacement);
    if (requestId !== undefined) this.#byRequestId.set(requestId, replacement);
    if (!replacement.neverHealthy) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        // Only a boot still in progress comes up: a host already sent to forensics stays there.
        if (host.state === 'booting') host.state = 'out_of_lb';
      }, this.#bootDelayMs);
      timer.unref();
      this.#timers.add(timer);
    }
    return ok(201, this.#cloneView(replacement));
  }

  #promote(failed: FleetHost): OrchestratorAnswer {
    const candidates = [...this.#deps.hosts.values()].filter(
      (h) =>
        h.service === failed.service &&
        h.id !== failed.id &&
        (h.state === 'active' || h.state === 'out_of_lb') &&
        this.#deps.failure(h) === undefined,
    );
    // A standby waits out of the load balancer; failing that, any healthy peer takes over.
    const standby = candidates.find((h) => h.state === 'out_of_lb') ?? candidates[0];
    if (standby === undefined) {
      conflict(
        'NO_STANDBY',
        `service "${failed.service}" has no healthy host to promote in place of ${failed.id}`,
      );
    }
    standby.state = 'active';
    if (failed.state === 'active') failed.state = 'out_of_lb';
    return ok(200, { ...this.#view(standby), replaces: failed.id });
  }

  #host(service: string, id: string): FleetHost {
    const hosts = [...this.#deps.hosts.values()];
    if (!hosts.some((h) => h.service === service)) {
      throw new LzError(OrchestratorErrorCodes.UNKNOWN_SERVICE, `fleet has no service "${service}"`);
    }
    const host = this.#deps.hosts.get(id);
    if (host === undefined || host.service !== service) {
      throw new LzError(OrchestratorErrorCodes.UNKNOWN_HOST, `service "${service}" has no host "${id}"`);
    }
    return host;
  }

  #nextId(service: string): string {
    let n = this.#counters.get(service) ?? 0;
    let id: string;
    do id = `${service}-r${++n}`;
    while (this.#deps.hosts.has(id));
    this.#counters.set(service, n);
    return id;
  }

  #view(host: FleetHost): Record<string, unknown> {
    const { id, service, zone, state } = host;
    return { host: id, service, zone, health_url: this.#deps.healthUrl(id), state };
  }

  #cloneView(r: Replacement): Record<string, unknown> {
    return { ...this.#view(r.host), replaces: r.replaces, ...r.extra };
  }
}

function lbView(host: FleetHost): Record<string, unknown> {
  return { host: host.id, service: host.service, state: host.state, in_lb: host.state === 'active' };
}

function parseBody(text: string | undefined): unknown {
  if (text === undefined)
    throw new LzError(OrchestratorErrorCodes.PAYLOAD_TOO_LARGE, 'request body is too large');
  try {
    return JSON.parse(text);
  } catch {
    throw new LzError(OrchestratorErrorCodes.INVALID_JSON, 'request body is not valid JSON');
  }
}

/**
 * The body's fields, checked against the route's: unknown fields are refused rather than ignored (a
 * typo such as `hostname` would otherwise act on nothing). With `strings`, every field must be a
 * non-empty string.
 */
function fieldsOf(
  input: unknown,
  fields: { required: readonly string[]; optional: readonly string[] },
  strings = true,
): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid('body: not a JSON object');
  const body = input as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!fields.required.includes(key) && !fields.optional.includes(key))
      invalid(`body.${key}: unknown field`);
  }
  for (const key of [...fields.required, ...fields.optional]) {
    const value = body[key];
    if (value === undefined && !fields.required.includes(key)) continue;
    if (strings && (typeof value !== 'string' || value === '')) {
      invalid(`body.${key}: ${fields.required.includes(key) ? 'required, ' : ''}a non-empty string`);
    }
  }
  return body;
}

function decodeService(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new LzError(OrchestratorErrorCodes.UNKNOWN_SERVICE, `no service at ${JSON.stringify(raw)}`);
  }
}

function ok(status: number, body: unknown): OrchestratorAnswer {
  return { status, body };
}

function invalid(message: string): never {
  throw new LzError(OrchestratorErrorCodes.INVALID_REQUEST, `invalid request: ${message}`);
}

function conflict(
  code: 'HOST_IN_FORENSICS' | 'HOST_BOOTING' | 'REQUEST_ID_CONFLICT' | 'NO_STANDBY',
  message: string,
): never {
  throw new LzError(OrchestratorErrorCodes[code], message);
}

/** An `LzError` of this module as its HTTP status and `{ error: { code, message } }`; anything else is rethrown. */
function errorAnswer(error: unknown): OrchestratorAnswer {
  if (!(error instanceof LzError) || !Object.hasOwn(HTTP_STATUS, error.code)) throw error;
  const code = error.code.slice('LZ_ERR_SIM_'.length).toLowerCase();
  return {
    status: HTTP_STATUS[error.code as OrchestratorErrorCode],
    body: { error: { code, message: error.message } },
  };
}
