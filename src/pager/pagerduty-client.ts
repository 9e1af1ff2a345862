/**
 * One PagerDuty REST call, tried again with exponential backoff on 5xx, 429, timeouts and network
 * errors until it gets an answer that settles it or its budget is spent. The budget is a deadline,
 * not a count: the controller has 60 s from the page to acknowledge or escalate, and PagerDuty
 * escalates by itself after that, so a late success is worse than a clear failure.
 *
 * The HTTP is Node's own `http`/`https` with connections kept alive (`fetch` cost about twice the
 * CPU per request, the largest part of a node's in a storm of pages), shaped as PagerDuty's REST API v2
 * documents it: `Accept: application/vnd.pagerduty+json;version=2`, `Authorization: Token
 * token=...`, `From` on writes, JSON bodies, array query parameters repeated (`statuses[]=a&
 * statuses[]=b`). It was `@pagerduty/pdjs` 2.2 until the region shared one request budget: pdjs
 * retries every 429 three times inside itself, after a fixed wait, with no way to turn it off and
 * without showing the 429 or its `ratelimit-reset` to the caller. Those hidden requests were
 * counted by PagerDuty but by no budget, and the region could not hold off until the reset. Every
 * attempt here is one request, one token of the budget, and every 429 is seen.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /** Jitter source of the backoff. @defaultValue `Math.random` */
  readonly random?: () => number;
  /**
   * How long a kept-alive connection may sit idle before this client closes it: before the server
   * does, so that a request is not sent on a connection the server is closing (it would fail and
   * cost a retried attempt). A server's `Keep-Alive: timeout=N` shortens it further (Node's agent
   * closes such a connection a second before N). @defaultValue `4000`, as undici's
   */
  readonly idleSocketMs?: number;
}

export interface PagerDutyRequest {
  readonly method: 'GET' | 'PUT' | 'POST';
  /** Path below the base URL, e.g. `/incidents/P000001`. */
  readonly path: string;
  /** Query parameters of a GET. */
  readonly query?: Readonly<Record<string, string | readonly string[]>>;
  /** JSON body of a PUT or POST; a function is called for each attempt (what it sends may change). */
  readonly body?: object | (() => object);
}

/** An answer that settles the call: a 2xx, or a 4xx other than 408/429 (the caller reads it). */
export interface PagerDutyAnswer {
  readonly status: number;
  /** The parsed JSON body; `undefined` when there was none or it was not JSON. */
  readonly data: unknown;
  /** HTTP attempts made by this client. */
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
  /**
   * A permit granted and then not used: the call stopped before sending its attempt (the caller
   * aborted, or the deadline came while it waited for the permit). The permit goes back.
   */
  readonly unused?: () => void;
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
  /** Connections kept open between requests (PagerDuty's API is one host). */
  readonly #httpAgent: HttpAgent;
  readonly #httpsAgent: HttpsAgent;

  constructor(options: PagerDutyClientOptions) {
    this.#options = options;
    // The agent's `timeout` closes a connection idle in its pool that long; on a request in flight
    // it only emits 'timeout', which nothing here listens to (the attempt's own timeout governs).
    const idle = { keepAlive: true, timeout: options.idleSocketMs ?? 4_000 };
    this.#httpAgent = new HttpAgent(idle);
    this.#httpsAgent = new HttpsAgent(idle);
    this.#baseUrl = (options.baseUrl ?? 'https://api.pagerduty.com').replace(/\/+$/, '');
    this.#backoff = { initialMs: 100, maxMs: 5_000, ...options.backoff };
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
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
      if (budget.deadline - this.#now() < MIN_ATTEMPT_MS) throw unavailable('budget spent');
      if (budget.permit !== undefined) {
        try {
          await budget.permit();
        } catch (error) {
          if (!(error instanceof PagerError)) throw error;
          // After failed attempts, PagerDuty's failure is the story; the budget only ended the retries.
          if (attempts > 0) throw unavailable(`no retry: ${error.message}`);
          throw new PagerError(error.code, `PagerDuty ${request.method} ${request.path}: ${error.message}`, {
            retryable: false,
            status: lastStatus,
            attempts,
          });
        }
        if (budget.signal.aborted) {
          budget.unused?.();
          throw abortReason(budget.signal);
        }
      }
      // Measured after the wait for the budget: no attempt may outlive the deadline.
      const remaining = budget.deadline - this.#now();
      if (remaining < MIN_ATTEMPT_MS) {
        if (budget.permit !== undefined) budget.unused?.();
        throw unavailable('budget spent waiting for the request budget');
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

  /** Closes the kept-alive connections. */
  close(): void {
    // The idle ones only: a request still in flight finishes (its answer is not lost to a retry).
    for (const agent of [this.#httpAgent, this.#httpsAgent])
      for (const sockets of Object.values(agent.freeSockets))
        for (const socket of sockets ?? []) socket.destroy();
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
    const url = new URL(this.#baseUrl + request.path);
    if (request.method === 'GET')
      for (const [name, value] of Object.entries(request.query ?? {}))
        for (const v of typeof value === 'string' ? [value] : value) url.searchParams.append(name, v);
    const payload: object | undefined =
      typeof request.body === 'function' ? (request.body as () => object)() : request.body;
    const body = request.method !== 'GET' && payload !== undefined ? JSON.stringify(payload) : undefined;
    try {
      const answer = await this.#send(url, request.method, body, controller.signal);
      let data: unknown;
      try {
        data = answer.text === '' ? undefined : JSON.parse(answer.text);
      } catch {
        // A proxy's HTML error page: the status says enough.
        data = undefined;
      }
      // PagerDuty's 429 says when in `ratelimit-reset` (seconds until the window resets).
      const header = (name: string): string | null => {
        const v = answer.headers[name];
        return (Array.isArray(v) ? v[0] : v) ?? null;
      };
      return { status: answer.status, data, retryAfter: header('retry-after') ?? header('ratelimit-reset') };
    } catch (error) {
      return { error: controller.signal.aborted && !signal.aborted ? controller.signal.reason : error };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One HTTP exchange on the client's keep-alive connections: the status, headers and body text. */
  #send(
    url: URL,
    method: PagerDutyRequest['method'],
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    const headers: OutgoingHttpHeaders = {
      Accept: 'application/vnd.pagerduty+json;version=2',
      Authorization: `Token token=${this.#options.token}`,
      From: this.#options.from,
      ...(body === undefined
        ? {}
        : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }),
    };
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const send = https ? httpsRequest : httpRequest;
      const req = send(
        url,
        { method, headers, agent: https ? this.#httpsAgent : this.#httpAgent, signal },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.once('error', reject);
          res.once('aborted', () => reject(new Error('the connection closed before the answer was whole')));
          res.once('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortReason(signal);
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // An error that says only what it wraps ("fetch failed"): what failed (ECONNREFUSED) is its cause.
  const cause = error.cause;
  const inner = cause instanceof Error && error.message === 'fetch failed' ? cause : error;
  const code = (inner as { code?: unknown }).code;
  const text = inner === error ? error.message : `${error.message}: ${inner.message}`;
  return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
}

/** PagerDuty's `{ error: { message } }`, for the error text. */
function describeBody(data: unknown): string {
  const message = (data as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === 'string' ? ` ${message}` : '';
}
