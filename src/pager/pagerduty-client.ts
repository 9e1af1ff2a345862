/**
 * One PagerDuty REST call through `@pagerduty/pdjs`, tried again with exponential backoff on 5xx,
 * 429, timeouts and network errors until it gets an answer that settles it or its budget is spent.
 * The budget is a deadline, not a count: the controller has 60 s from the page to acknowledge or
 * escalate, and PagerDuty escalates by itself after that, so a late success is worse than a clear
 * failure.
 *
 * pdjs quirks this works around (checked in its 2.2.4 source):
 * - Its `server` option always builds `https://{server}/...`; a full `url` is used as given. Every call
 *   passes the full URL built from `baseUrl`, so the same code reaches PagerDuty and the plain-HTTP
 *   simulator.
 * - Error statuses resolve rather than reject, and an answer whose body is not JSON (a proxy's 502
 *   page) rejects with the response object instead of an Error: both are turned into a status here.
 * - `requestTimeout` only starts a timer that never aborts anything and keeps the process alive:
 *   it is set to 0 and every attempt gets its own `AbortSignal`.
 * - A 429 is retried three times inside pdjs, `retryTimeout` apart, on a timer that no signal stops;
 *   that wait is kept short (`rateLimitWaitMs`) and a 429 that comes out of pdjs is waited out here,
 *   honouring `Retry-After`. Those inner retries are not counted in `attempts`.
 * - Its bundled fetch (node-fetch 2) sends `Connection: close` unless given an agent, which would cost
 *   a TLS handshake per call against PagerDuty: keep-alive agents are passed.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { api } from '@pagerduty/pdjs';
import type { APIParameters } from '@pagerduty/pdjs/build/src/api.js';
import { PagerError, PagerErrorCodes } from './errors.js';
import {
  abortReason,
  backoffMs,
  isRetryableStatus,
  retryAfterMs,
  sleep,
  type BackoffOptions,
} from './retry-policy.js';

export interface PagerDutyClientOptions {
  /** REST API token of the controller's PagerDuty user. */
  readonly token: string;
  /** Email of that user: PagerDuty requires it in the `From` header of every write. */
  readonly from: string;
  /** @defaultValue `'https://api.pagerduty.com'` (the simulator's `url` in tests and the local stack) */
  readonly baseUrl?: string;
  /** Longest wait for one HTTP attempt (shortened to what is left of the budget). @defaultValue `5000` */
  readonly attemptTimeoutMs?: number;
  /** @defaultValue `{ initialMs: 100, maxMs: 5000 }` */
  readonly backoff?: Partial<BackoffOptions>;
  /** pdjs's own wait between its inner 429 retries (see above). @defaultValue `500` */
  readonly rateLimitWaitMs?: number;
  /** Connections kept open per origin. @defaultValue `32` */
  readonly maxSockets?: number;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /** Jitter source of the backoff. @defaultValue `Math.random` */
  readonly random?: () => number;
}

export interface PagerDutyRequest {
  readonly method: 'GET' | 'PUT' | 'POST';
  /** Path below the base URL, e.g. `/incidents/P000001`. */
  readonly path: string;
  /** Query parameters of a GET. */
  readonly query?: Readonly<Record<string, string | readonly string[]>>;
  /** JSON body of a PUT or POST. */
  readonly body?: object;
}

/** An answer that settles the call: a 2xx, or a 4xx other than 408/429 (the caller reads it). */
export interface PagerDutyAnswer {
  readonly status: number;
  /** The parsed JSON body; `undefined` when there was none or it was not JSON. */
  readonly data: unknown;
  /** HTTP attempts made by this client (pdjs's inner 429 retries not counted). */
  readonly attempts: number;
}

export interface CallBudget {
  /** Epoch milliseconds after which no attempt starts and no wait ends. */
  readonly deadline: number;
  /** The caller's signal: when it fires, the call stops at once with its reason. */
  readonly signal: AbortSignal;
  /**
   * Waits for the region's request budget to allow one more HTTP attempt (see request-budget.ts);
   * rejects (`LZ_ERR_PAGER_OVER_BUDGET`) when it cannot before the deadline, and the call then
   * sends nothing more. Absent: no budget.
   */
  readonly permit?: () => Promise<void>;
  /** PagerDuty answered 429 and said when to come back (epoch ms): every node holds off until then. */
  readonly rateLimited?: (untilMs: number) => void;
}

/** Shortest attempt worth starting: below this the answer could not arrive before the deadline. */
const MIN_ATTEMPT_MS = 50;

type Attempt =
  | { readonly status: number; readonly data: unknown; readonly retryAfter: string | null }
  | { readonly error: unknown };

export class PagerDutyClient {
  readonly #options: PagerDutyClientOptions;
  readonly #baseUrl: string;
  readonly #backoff: BackoffOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;

  constructor(options: PagerDutyClientOptions) {
    this.#options = options;
    this.#baseUrl = (options.baseUrl ?? 'https://api.pagerduty.com').replace(/\/+$/, '');
    this.#backoff = { initialMs: 100, maxMs: 5_000, ...options.backoff };
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    const agent = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
    this.#http = new HttpAgent(agent);
    this.#https = new HttpsAgent(agent);
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  /**
   * Makes the call, trying again while the answer is retryable and the budget allows another attempt.
   * Resolves with the first answer that settles it; rejects with `LZ_ERR_PAGER_UNAVAILABLE` once the
   * budget is spent (at once when a `Retry-After` or the next backoff would end past the deadline),
   * or with the signal's reason when the caller aborts.
   */
  async request(request: PagerDutyRequest, budget: CallBudget): Promise<PagerDutyAnswer> {
    const started = this.#now();
    let attempts = 0;
    let last = 'no attempt: the budget was already spent';
    let lastStatus: number | undefined;
    let lastError: unknown;
    const unavailable = (why: string): PagerError =>
      new PagerError(
        PagerErrorCodes.UNAVAILABLE,
        `PagerDuty ${request.method} ${request.path}: ${why} (${attempts} attempt(s) in ${this.#now() - started} ms; last: ${last})`,
        { retryable: false, cause: lastError, status: lastStatus, attempts },
      );

    for (;;) {
      throwIfAborted(budget.signal);
      const remaining = budget.deadline - this.#now();
      if (remaining < MIN_ATTEMPT_MS) throw unavailable('budget spent');
      if (budget.permit !== undefined) {
        try {
          await budget.permit();
        } catch (error) {
          if (!(error instanceof PagerError)) throw error;
          throw new PagerError(error.code, `PagerDuty ${request.method} ${request.path}: ${error.message}`, {
            retryable: false,
            status: lastStatus,
            attempts,
          });
        }
        throwIfAborted(budget.signal);
      }
      attempts += 1;
      const outcome = await this.#attempt(
        request,
        Math.min(this.#attemptTimeoutMs, remaining),
        budget.signal,
      );
      throwIfAborted(budget.signal);
      let hint: number | undefined;
      if ('status' in outcome) {
        if (!isRetryableStatus(outcome.status)) {
          return { status: outcome.status, data: outcome.data, attempts };
        }
        last = `HTTP ${outcome.status}${describeBody(outcome.data)}`;
        lastStatus = outcome.status;
        lastError = undefined;
        if (outcome.status === 429) {
          hint = retryAfterMs(outcome.retryAfter, this.#now());
          // PagerDuty counts the user's requests from every node: all of them hold off.
          budget.rateLimited?.(this.#now() + (hint ?? 1_000));
        }
      } else {
        last = describeError(outcome.error);
        lastError = outcome.error;
        lastStatus = undefined;
      }
      const left = budget.deadline - this.#now();
      let wait = backoffMs(attempts, this.#backoff, this.#random);
      if (hint !== undefined) {
        // PagerDuty said when to come back; coming back earlier only earns another 429.
        if (hint + MIN_ATTEMPT_MS > left)
          throw unavailable(`rate limited past the budget (Retry-After ${hint} ms)`);
        wait = Math.max(wait, hint);
      }
      // A shorter last wait still leaves room for one more attempt before the deadline.
      wait = Math.min(wait, left - MIN_ATTEMPT_MS);
      if (wait < 0) throw unavailable('budget spent');
      await sleep(wait, budget.signal);
    }
  }

  /** Closes idle keep-alive connections (in-flight calls finish). */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  get #attemptTimeoutMs(): number {
    return this.#options.attemptTimeoutMs ?? 5_000;
  }

  async #attempt(request: PagerDutyRequest, timeoutMs: number, signal: AbortSignal): Promise<Attempt> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const parameters: APIParameters & { agent: (url: URL) => HttpAgent | HttpsAgent } = {
      url: this.#baseUrl + request.path,
      method: request.method,
      token: this.#options.token,
      headers: { From: this.#options.from },
      // For a GET, pdjs turns `data` into query parameters; for a write, into the JSON body.
      ...(request.method === 'GET'
        ? request.query === undefined
          ? {}
          : { data: request.query }
        : request.body === undefined
          ? {}
          : { data: request.body }),
      requestTimeout: 0,
      retryTimeout: Math.max(MIN_ATTEMPT_MS, Math.min(this.#options.rateLimitWaitMs ?? 500, timeoutMs / 4)),
      signal: controller.signal,
      agent: (url) => (url.protocol === 'http:' ? this.#http : this.#https),
    };
    try {
      const response = await api(parameters);
      return {
        status: response.status,
        data: response.data,
        // PagerDuty's 429 says when in `ratelimit-reset` (seconds until the window resets).
        retryAfter: response.headers.get('retry-after') ?? response.headers.get('ratelimit-reset'),
      };
    } catch (error) {
      // pdjs rejects with the response itself when the body is not JSON.
      if (isResponse(error)) {
        return { status: error.status, data: undefined, retryAfter: error.headers.get('retry-after') };
      }
      return { error: controller.signal.aborted && !signal.aborted ? controller.signal.reason : error };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function isResponse(
  value: unknown,
): value is { status: number; headers: { get(name: string): string | null } } {
  if (typeof value !== 'object' || value === null || value instanceof Error) return false;
  const v = value as { status?: unknown; headers?: { get?: unknown } };
  return typeof v.status === 'number' && typeof v.headers?.get === 'function';
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortReason(signal);
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code)
    ? `${error.message} (${code})`
    : error.message;
}

/** PagerDuty's `{ error: { message } }`, for the error text. */
function describeBody(data: unknown): string {
  const message = (data as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === 'string' ? ` ${message}` : '';
}
