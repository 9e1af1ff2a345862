/**
 * The controller as PagerDuty's first responder: finds the page of an event by its incident key and
 * acknowledges, escalates (to the next level of the escalation policy), resolves or annotates it,
 * through `@pagerduty/pdjs` (see pagerduty-client.ts for the HTTP side: retries, budget, pdjs quirks).
 *
 * The budget. PagerDuty escalates by itself 60 s after the page; the controller must acknowledge or
 * escalate before that, or not at all (an acknowledgement that lands after PagerDuty paged the humans
 * would silence their page while the controller acts). Each call therefore has a deadline,
 * `budgetMs` (50 s) after its budget start, and no attempt starts after it. The budget start is:
 *
 * - for a pager from `forEvent(eventTimeMs)`: the event's `time` (the moment the sensor paged). The
 *   controller takes one per event for the first response: the acknowledgement once the decision is
 *   `act` and the lock is held, or the escalation of an `escalate` decision, and the evidence note.
 *   Its `firstResponseMs()` is the latency to put in the decision record.
 * - otherwise: the start of each call. That is the pager to hand to workflows (ActionContext.pager):
 *   the resolve at the end of a 20-minute run, or its escalation on failure, is no longer in the
 *   first-responder race and gets a budget of its own.
 *
 * A call whose budget is spent throws `LZ_ERR_PAGER_UNAVAILABLE` (not retryable); the pipeline then
 * records `dependency_down`, starts no workflow and releases the lock: PagerDuty's own timer is
 * paging the humans.
 *
 * Incident ids are cached per key (a page's id never changes); the cache entry is dropped when the
 * incident is resolved, or when PagerDuty answers 404/400 for the cached id, so that a new page with
 * the same key is found again.
 */
import type { PagerPort } from '../actions/definition.js';
import { LzError } from '../common/errors.js';
import { PagerError, PagerErrorCodes } from './errors.js';
import {
  PagerDutyClient,
  type CallBudget,
  type PagerDutyAnswer,
  type PagerDutyClientOptions,
  type PagerDutyRequest,
} from './pagerduty-client.js';
import { failure, incidentOf, pick, userIdOf, type FoundIncident } from './pagerduty-answers.js';
import type { PagerVerb } from './recording-pager.js';
import { abortReason, sleep } from './retry-policy.js';

export interface PagerDutyPagerOptions extends PagerDutyClientOptions {
  /** Time from the budget start after which no attempt starts. @defaultValue `50000` */
  readonly budgetMs?: number;
  /**
   * How long to keep looking for an incident key that PagerDuty does not know yet. Sensors page
   * PagerDuty and send the event in parallel, and PagerDuty creates incidents asynchronously, so the
   * controller can be first. Within the budget. @defaultValue `10000`
   */
  readonly incidentGraceMs?: number;
  /** Incident ids remembered (oldest forgotten first). @defaultValue `10000` */
  readonly maxCachedIncidents?: number;
  /**
   * Add the escalation reason (and the resolve note) to the incident as a note, after the escalation
   * (resolution) itself. Best effort: a failed note is recorded, never thrown. @defaultValue `true`
   */
  readonly noteReasons?: boolean;
  /** Called with every call's record (metrics, logs). */
  readonly onCall?: (record: PagerCallRecord) => void;
}

/** What one port call did and how long it took. */
export interface PagerCallRecord {
  readonly verb: PagerVerb;
  readonly incidentKey: string;
  readonly incidentId?: string;
  readonly ok: boolean;
  /** The error's code (`LZ_ERR_PAGER_...`, or `aborted`) when it failed. */
  readonly code?: string;
  readonly error?: string;
  /** HTTP attempts, the incident lookup's included. */
  readonly attempts: number;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /** From the call's start until it settled. */
  readonly latencyMs: number;
  /** From the budget start (the event's time, for a pager from `forEvent`) until it settled. */
  readonly sinceBudgetStartMs: number;
}

interface CachedIncident {
  readonly id: string;
  /** The level this pager last escalated the incident to, for a PagerDuty that does not report it. */
  level?: number;
}

/** One call in progress: its budget and its attempts so far. */
interface CallContext extends CallBudget {
  readonly startedAt: number;
  attempts: number;
}

/** What all pagers made from one `new PagerDutyPager()` share. */
class PagingCore {
  readonly client: PagerDutyClient;
  readonly cache = new Map<string, CachedIncident>();
  readonly budgetMs: number;
  readonly graceMs: number;
  readonly maxCached: number;
  readonly noteReasons: boolean;
  readonly now: () => number;
  readonly onCall: ((record: PagerCallRecord) => void) | undefined;
  /** The `From` address: the controller's own PagerDuty user. */
  readonly from: string;
  /** That user's id, once looked up (only needed for a page someone acknowledged). */
  selfId: string | undefined;

  constructor(options: PagerDutyPagerOptions) {
    this.client = new PagerDutyClient(options);
    this.from = options.from;
    this.budgetMs = options.budgetMs ?? 50_000;
    this.graceMs = options.incidentGraceMs ?? 10_000;
    this.maxCached = options.maxCachedIncidents ?? 10_000;
    this.noteReasons = options.noteReasons ?? true;
    this.now = options.now ?? Date.now;
    this.onCall = options.onCall;
  }

  remember(key: string, entry: CachedIncident): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
  }
}

const MAX_ROOT_RECORDS = 1_000;

export class PagerDutyPager implements PagerPort {
  readonly #core: PagingCore;
  readonly #budgetStartMs: number | undefined;
  readonly #records: PagerCallRecord[] = [];

  /**
   * @param options - token, `From` address, base URL, budget, retries (see the options' docs)
   * @param bound - used by `forEvent`; leave it out
   */
  constructor(
    options: PagerDutyPagerOptions,
    bound?: { readonly pager: PagerDutyPager; readonly budgetStartMs: number },
  ) {
    this.#core = bound === undefined ? new PagingCore(options) : bound.pager.#core;
    this.#budgetStartMs = bound?.budgetStartMs;
  }

  /**
   * A pager for one event's first response, whose calls' budget starts at the event's time (epoch
   * ms, e.g. `Date.parse(event.time)`). It shares the connection pool and the incident cache.
   */
  forEvent(eventTimeMs: number): PagerDutyPager {
    return new PagerDutyPager({ token: '', from: '' }, { pager: this, budgetStartMs: eventTimeMs });
  }

  /** This pager's calls, oldest first (the root pager keeps the newest 1 000). */
  calls(): PagerCallRecord[] {
    return [...this.#records];
  }

  /**
   * Milliseconds from the budget start (the event's time) to the first successful acknowledgement or
   * escalation: the first-response latency of the decision record. `undefined` when neither succeeded.
   */
  firstResponseMs(): number | undefined {
    return this.#records.find((r) => r.ok && (r.verb === 'acknowledge' || r.verb === 'escalate'))
      ?.sinceBudgetStartMs;
  }

  /** Closes idle connections. The pagers from `forEvent` share them: close the root pager only. */
  close(): void {
    this.#core.client.close();
  }

  /**
   * Acknowledges the page, after a fresh look at it (never from the cache): an incident that is
   * already past the first level belongs to the humans, and acknowledging it would silence their
   * page while the controller acts. That is refused with `LZ_ERR_PAGER_ALREADY_ESCALATED` (when
   * PagerDuty reports the level; see `escalate`). An incident acknowledged by anyone but the
   * controller's own user (the `From` address) is a person's: refused with `LZ_ERR_PAGER_TAKEN`. One
   * the controller acknowledged (another node, an earlier try) is acknowledged again: that is a no-op.
   */
  acknowledge(incidentKey: string, signal: AbortSignal): Promise<{ incident_id: string; status: string }> {
    return this.#run('acknowledge', incidentKey, signal, async (ctx) => {
      const found = await this.#lookup(incidentKey, ctx);
      if (found.level !== undefined && found.level > 1) {
        throw new PagerError(
          PagerErrorCodes.ALREADY_ESCALATED,
          `incident ${found.id} (${incidentKey}) is already at escalation level ${found.level}: not acknowledging it`,
          { retryable: false },
        );
      }
      if (found.status === 'acknowledged') {
        const self = await this.#selfId(ctx);
        // Acknowledged with no one named: someone took it, and it cannot be shown to be the controller.
        const others =
          found.acknowledgers.length === 0
            ? [{ id: undefined, summary: undefined }]
            : found.acknowledgers.filter((a) => self === undefined || a.id !== self);
        if (others.length > 0) {
          const names = others.map((a) => a.summary ?? a.id ?? 'someone').join(', ');
          throw new PagerError(
            PagerErrorCodes.TAKEN,
            `incident ${found.id} (${incidentKey}) is already acknowledged by ${names}: a person is working on it, so the controller does not act`,
            { retryable: false },
          );
        }
      }
      const incident = await this.#setStatus(incidentKey, 'acknowledged', ctx, found.id);
      return {
        result: { incident_id: incident.id, status: incident.status ?? 'acknowledged' },
        id: incident.id,
      };
    });
  }

  resolve(
    incidentKey: string,
    note: string | undefined,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; status: string }> {
    return this.#run('resolve', incidentKey, signal, async (ctx) => {
      const incident = await this.#setStatus(incidentKey, 'resolved', ctx);
      // A new page with the same key is a new incident.
      this.#core.cache.delete(incidentKey);
      return {
        result: { incident_id: incident.id, status: incident.status ?? 'resolved' },
        id: incident.id,
        ...(note !== undefined && note !== '' && this.#core.noteReasons
          ? { afterwards: () => this.#bestEffortNote(incidentKey, incident.id, note, ctx) }
          : {}),
      };
    });
  }

  /**
   * Escalates to the level after the incident's current one. The level is read fresh (someone may
   * have escalated by hand), from the incident's `escalation_level` when PagerDuty reports one, else
   * from the last level this pager set, else 1 (the controller is the first level). The target level
   * is fixed before the first attempt, so a retried PUT cannot skip a level.
   */
  escalate(
    incidentKey: string,
    reason: string,
    signal: AbortSignal,
    options: {
      /**
       * Escalate only a page nobody has taken: still `triggered` at the first level. A page that is
       * acknowledged (a remediation of another event is working on it, or a person is) or already
       * past the first level (PagerDuty's timer or a person escalated it) is left as it is, and the
       * answer says `escalated: false`. Used for a decision's first response.
       */
      readonly onlyUntaken?: boolean;
    } = {},
  ): Promise<{ incident_id: string; escalation_level: number; escalated?: boolean }> {
    type Escalated = { incident_id: string; escalation_level: number; escalated?: boolean };
    return this.#run<Escalated>('escalate', incidentKey, signal, async (ctx) => {
      const found = await this.#lookup(incidentKey, ctx);
      const current = found.level ?? this.#core.cache.get(incidentKey)?.level ?? 1;
      if (options.onlyUntaken === true && (current > 1 || found.status !== 'triggered')) {
        return {
          result: { incident_id: found.id, escalation_level: current, escalated: false },
          id: found.id,
        };
      }
      const target = current + 1;
      const answer = await this.#request(
        {
          method: 'PUT',
          path: `/incidents/${encodeURIComponent(found.id)}`,
          body: { incident: { type: 'incident_reference', escalation_level: target } },
        },
        ctx,
      );
      if (answer.status !== 200) throw failure(answer, `escalate ${incidentKey} to level ${target}`);
      this.#core.remember(incidentKey, { id: found.id, level: target });
      return {
        result: { incident_id: found.id, escalation_level: target, escalated: true },
        id: found.id,
        ...(reason !== '' && this.#core.noteReasons
          ? {
              afterwards: () =>
                this.#bestEffortNote(incidentKey, found.id, `Escalated by Lazarus: ${reason}`, ctx),
            }
          : {}),
      };
    });
  }

  /** Adds a note. Not idempotent: a retry after a lost answer can add the note twice (better than none). */
  note(incidentKey: string, content: string, signal: AbortSignal): Promise<{ note_id: string }> {
    return this.#run('note', incidentKey, signal, async (ctx) => {
      const { id, answer } = await this.#withIncident(incidentKey, ctx, (incidentId) =>
        this.#request(notesRequest(incidentId, content), ctx),
      );
      if (answer.status !== 201 && answer.status !== 200) throw failure(answer, `note on ${incidentKey}`);
      const noteId = (answer.data as { note?: { id?: unknown } } | undefined)?.note?.id;
      return { result: { note_id: typeof noteId === 'string' ? noteId : '' }, id };
    });
  }

  /** Runs one port call: sets up its budget, records it, turns an abort into the signal's reason. */
  async #run<T>(
    verb: PagerVerb,
    incidentKey: string,
    signal: AbortSignal,
    body: (ctx: CallContext) => Promise<{ result: T; id: string; afterwards?: () => Promise<void> }>,
  ): Promise<T> {
    const core = this.#core;
    const startedAt = core.now();
    const budgetStart = this.#budgetStartMs ?? startedAt;
    const ctx: CallContext = { deadline: budgetStart + core.budgetMs, signal, startedAt, attempts: 0 };
    const settle = (fields: Partial<PagerCallRecord> & { ok: boolean }): void => {
      const end = core.now();
      this.#record({
        verb,
        incidentKey,
        attempts: ctx.attempts,
        startedAt,
        latencyMs: end - startedAt,
        sinceBudgetStartMs: end - budgetStart,
        ...fields,
      });
    };
    try {
      if (signal.aborted) throw abortReason(signal);
      const { result, id, afterwards } = await body(ctx);
      // Settled before the trailing note: the latency is the escalation's (resolution's) own.
      settle({ ok: true, incidentId: id });
      await afterwards?.();
      return result;
    } catch (error) {
      const code = error instanceof LzError ? error.code : signal.aborted ? 'aborted' : 'error';
      settle({ ok: false, code, error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  #record(record: PagerCallRecord): void {
    this.#records.push(Object.freeze(record));
    if (this.#budgetStartMs === undefined && this.#records.length > MAX_ROOT_RECORDS) this.#records.shift();
    this.#core.onCall?.(record);
  }

  async #request(request: PagerDutyRequest, ctx: CallContext): Promise<PagerDutyAnswer> {
    try {
      const answer = await this.#core.client.request(request, ctx);
      ctx.attempts += answer.attempts;
      return answer;
    } catch (error) {
      if (error instanceof PagerError) ctx.attempts += error.attempts;
      throw error;
    }
  }

  /**
   * Sets the status (on `knownId`, else on the key's incident). A 400 on resolve is a success when
   * the incident turns out to be resolved already.
   */
  async #setStatus(
    incidentKey: string,
    status: 'acknowledged' | 'resolved',
    ctx: CallContext,
    knownId?: string,
  ): Promise<FoundIncident> {
    const put = (incidentId: string): Promise<PagerDutyAnswer> =>
      this.#request(
        {
          method: 'PUT',
          path: `/incidents/${encodeURIComponent(incidentId)}`,
          body: { incident: { type: 'incident_reference', status } },
        },
        ctx,
      );
    const { id, answer } =
      knownId === undefined
        ? await this.#withIncident(incidentKey, ctx, put)
        : { id: knownId, answer: await put(knownId) };
    if (answer.status === 200)
      return incidentOf(answer.data) ?? { id, status, level: undefined, acknowledgers: [] };
    if (answer.status === 400 && status === 'resolved') {
      // An earlier attempt may have resolved it and lost the answer: PagerDuty then says "already resolved".
      const fresh = await this.#lookup(incidentKey, ctx);
      if (fresh.id === id && fresh.status === 'resolved') return fresh;
    }
    throw failure(answer, `${status === 'resolved' ? 'resolve' : 'acknowledge'} ${incidentKey}`);
  }

  /**
   * Calls `call` with the incident's id, from the cache when it is there. A cached id that PagerDuty
   * answers 404 or 400 for may be a resolved incident whose key has a new page: the key is looked up
   * again and, when it names another incident, the call is made once more on that one.
   */
  async #withIncident(
    incidentKey: string,
    ctx: CallContext,
    call: (incidentId: string) => Promise<PagerDutyAnswer>,
  ): Promise<{ id: string; answer: PagerDutyAnswer }> {
    const cached = this.#core.cache.get(incidentKey);
    const id = cached?.id ?? (await this.#lookup(incidentKey, ctx)).id;
    const answer = await call(id);
    if (cached === undefined || (answer.status !== 404 && answer.status !== 400)) return { id, answer };
    this.#core.cache.delete(incidentKey);
    const fresh = await this.#lookup(incidentKey, ctx);
    if (fresh.id === id) return { id, answer };
    return { id: fresh.id, answer: await call(fresh.id) };
  }

  /**
   * Finds the incident of a key: the newest open one, else the newest resolved one. Polls while the
   * key is unknown, up to `incidentGraceMs` after the call's start (and within the budget).
   */
  async #lookup(incidentKey: string, ctx: CallContext): Promise<FoundIncident> {
    const core = this.#core;
    const graceEnd = Math.min(ctx.startedAt + core.graceMs, ctx.deadline);
    for (let poll = 0; ; poll++) {
      const answer = await this.#request(
        { method: 'GET', path: '/incidents', query: { incident_key: incidentKey } },
        ctx,
      );
      if (answer.status !== 200) throw failure(answer, `look up incident key ${incidentKey}`);
      const found = pick(answer.data, incidentKey);
      if (found !== undefined) {
        const level = found.level ?? core.cache.get(incidentKey)?.level;
        core.remember(incidentKey, { id: found.id, ...(level === undefined ? {} : { level }) });
        return found;
      }
      const wait = Math.min(1_000, 250 * 2 ** poll);
      if (core.now() + wait > graceEnd) {
        throw new PagerError(
          PagerErrorCodes.NO_INCIDENT,
          `PagerDuty has no incident with incident key "${incidentKey}"`,
          { retryable: false, status: answer.status },
        );
      }
      await sleep(wait, ctx.signal);
    }
  }

  /**
   * The id of the controller's own PagerDuty user (the `From` address), looked up once. `undefined`
   * when PagerDuty knows no user with that exact address; a failed lookup throws (and is tried again
   * next time).
   */
  async #selfId(ctx: CallContext): Promise<string | undefined> {
    const core = this.#core;
    if (core.selfId !== undefined) return core.selfId;
    const answer = await this.#request({ method: 'GET', path: '/users', query: { query: core.from } }, ctx);
    if (answer.status !== 200) throw failure(answer, `look up the user ${core.from}`);
    core.selfId = userIdOf(answer.data, core.from);
    return core.selfId;
  }

  /** A note that must not turn a done escalation or resolution into a failure: recorded, not thrown. */
  async #bestEffortNote(
    incidentKey: string,
    incidentId: string,
    content: string,
    ctx: CallContext,
  ): Promise<void> {
    const startedAt = this.#core.now();
    const budgetStart = this.#budgetStartMs ?? ctx.startedAt;
    const base = { verb: 'note' as const, incidentKey, incidentId, startedAt };
    let attempts = 0;
    try {
      const answer = await this.#core.client.request(notesRequest(incidentId, content), ctx);
      attempts = answer.attempts;
      if (answer.status !== 201 && answer.status !== 200) throw failure(answer, `note on ${incidentKey}`);
      const end = this.#core.now();
      this.#record({
        ...base,
        ok: true,
        attempts,
        latencyMs: end - startedAt,
        sinceBudgetStartMs: end - budgetStart,
      });
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      const end = this.#core.now();
      this.#record({
        ...base,
        ok: false,
        code: error instanceof LzError ? error.code : 'error',
        error: error instanceof Error ? error.message : String(error),
        attempts: error instanceof PagerError ? error.attempts : attempts,
        latencyMs: end - startedAt,
        sinceBudgetStartMs: end - budgetStart,
      });
    }
  }
}

function notesRequest(incidentId: string, content: string): PagerDutyRequest {
  return {
    method: 'POST',
    path: `/incidents/${encodeURIComponent(incidentId)}/notes`,
    body: { note: { content } },
  };
}
