/**
 * The controller as PagerDuty's first responder: finds the page of an event by its incident key and
 * acknowledges, escalates (to the next level of the escalation policy), resolves or annotates it,
 * through PagerDuty's REST API v2 (see pagerduty-client.ts for the HTTP side: retries, deadline, and
 * request-budget.ts for the region's shared budget).
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
import type { PagerPort } from './port.js';
import { LzError } from '../common/errors.js';
import { PagerError, PagerErrorCodes } from './errors.js';
import {
  PagerDutyClient,
  type CallBudget,
  type PagerDutyAnswer,
  type PagerDutyClientOptions,
  type PagerDutyRequest,
} from './pagerduty-client.js';
import { failure, incidentOf, logEntriesOf, meOf, pick, type FoundIncident } from './pagerduty-answers.js';
import type { PagerVerb } from './recording-pager.js';
import { abortReason, sleep } from './retry-policy.js';
import { IncidentUpdates } from './incident-updates.js';
import {
  UNLIMITED_BUDGET,
  type FollowingCall,
  type PagePriority,
  type RequestBudget,
} from './request-budget.js';

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
  /**
   * The PagerDuty user id of the controller's own user (the `From` address). Absent: looked up once
   * with `GET /users/me`, which needs a user-level API token.
   */
  readonly userId?: string;
  /**
   * The region's request budget, shared by its nodes (request-budget.ts). Every HTTP attempt draws
   * from it; a call takes its whole plan (the lookup and the update) before it sends anything, so
   * a page the budget cannot answer is not even looked up. @defaultValue no budget
   */
  readonly requestBudget?: RequestBudget;
  /**
   * Longest an incident update (an acknowledgement, a resolution, an escalation) waits for the
   * updates of other calls still looking their incidents up, to go with them as one `PUT
   * /incidents` (incident-updates.ts). An update with none being looked up goes at once.
   * @defaultValue `10`
   */
  readonly updateWindowMs?: number;
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
}

/** How long a resolve may take, waits for the request budget included (a workflow step's default timeout is 5 min). */
const RESOLVE_BUDGET_MS = 240_000;

/** The level the controller holds in every escalation policy, and the one an escalation hands to. */
const OWN_LEVEL = 1;

/** One call in progress: its budget and its attempts so far. */
interface CallContext extends CallBudget {
  readonly startedAt: number;
  attempts: number;
  /** Requests taken from the region's budget for the call's plan and not sent yet. */
  credits: number;
  /** Requests taken with the plan for the note that follows the call, not sent yet. */
  following: number;
}

/** Whose turn a port call waits for when the region's request budget is short. */
const PRIORITY: Readonly<Record<PagerVerb, PagePriority>> = {
  acknowledge: 'acknowledge',
  escalate: 'escalate',
  resolve: 'resolve',
  note: 'note',
};

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
  readonly budget: RequestBudget;
  /** Status changes and escalations made at about the same moment, sent as one request. */
  readonly updates: IncidentUpdates;
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
    this.selfId = options.userId;
    this.budget = options.requestBudget ?? UNLIMITED_BUDGET;
    this.updates = new IncidentUpdates(this.client, options.updateWindowMs ?? 10, this.now);
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
   * Acknowledges the page, after a fresh look at it (never from the cache), only while it is still
   * the controller's to take, as PagerDuty's documented fields show it:
   * - it is open: a resolved page is refused with `LZ_ERR_PAGER_RESOLVED` (acknowledging it would
   *   reopen it);
   * - the controller's own user is among its `assignments`, and its log shows no escalation and no
   *   reassignment away from the controller since it was triggered: otherwise PagerDuty's timer or
   *   a person has handed it on, and acknowledging it would silence the humans' page while the
   *   controller acts (`LZ_ERR_PAGER_ALREADY_ESCALATED`);
   * - nobody but the controller acknowledged it: a person's is theirs (`LZ_ERR_PAGER_TAKEN`). One
   *   the controller acknowledged (another node, an earlier try) is acknowledged again: a no-op.
   */
  acknowledge(incidentKey: string, signal: AbortSignal): Promise<{ incident_id: string; status: string }> {
    return this.#run(
      'acknowledge',
      incidentKey,
      signal,
      async (ctx) => {
        const release = this.#core.updates.prepare();
        try {
          return await this.#acknowledgeFound(incidentKey, ctx, release);
        } finally {
          release();
        }
      },
      () => 3,
    );
  }

  async #acknowledgeFound(
    incidentKey: string,
    ctx: CallContext,
    release: () => void,
  ): Promise<{ result: { incident_id: string; status: string }; id: string }> {
    const found = await this.#lookup(incidentKey, ctx);
    if (found.status === 'resolved')
      throw new PagerError(
        PagerErrorCodes.RESOLVED,
        `incident ${found.id} (${incidentKey}) is resolved: acknowledging it would reopen it, so the controller does not act`,
        { retryable: false },
      );
    const self = await this.#selfId(ctx);
    if (!found.assignees.includes(self))
      throw new PagerError(
        PagerErrorCodes.ALREADY_ESCALATED,
        `incident ${found.id} (${incidentKey}) is assigned to ${found.assignees.join(', ') || 'nobody'}, not to the controller (${self}): the humans have it`,
        { retryable: false },
      );
    const others = found.acknowledgers.filter((a) => a.id !== self);
    if (others.length > 0) {
      const names = others.map((a) => a.summary ?? a.id ?? 'someone').join(', ');
      throw new PagerError(
        PagerErrorCodes.TAKEN,
        `incident ${found.id} (${incidentKey}) is already acknowledged by ${names}: a person is working on it, so the controller does not act`,
        { retryable: false },
      );
    }
    const handedOn = await this.#handedOn(found.id, self, ctx);
    if (handedOn !== undefined)
      throw new PagerError(
        PagerErrorCodes.ALREADY_ESCALATED,
        `incident ${found.id} (${incidentKey}) was ${handedOn} since it was triggered: the humans have it`,
        { retryable: false },
      );
    const incident = await this.#setStatus(incidentKey, 'acknowledged', ctx, found.id, release);
    return {
      result: { incident_id: incident.id, status: incident.status ?? 'acknowledged' },
      id: incident.id,
    };
  }

  resolve(
    incidentKey: string,
    note: string | undefined,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; status: string }> {
    return this.#run(
      'resolve',
      incidentKey,
      signal,
      async (ctx) => {
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
      },
      () => this.#lookups(incidentKey),
    );
  }

  /**
   * Escalates the page from the controller's level (the first of every escalation policy) to the
   * next. PagerDuty's incident documents no current level, so the controller escalates only a page
   * it holds (its user among the `assignments`): one assigned to anyone else is with the humans
   * already, and is left as it is (`escalated: false`, `left: 'taken'`). A resolved page is never
   * touched (`left: 'resolved'`): escalating it would reopen it.
   */
  escalate(
    incidentKey: string,
    reason: string,
    signal: AbortSignal,
    options: {
      /**
       * Escalate only a page nobody has taken: still `triggered` and the controller's. A page that is
       * acknowledged (a remediation of another event is working on it, or a person is) is left as it
       * is too. Used for a decision's first response.
       */
      readonly onlyUntaken?: boolean;
      /**
       * A note to add after the escalation, or to a page left as it is because it is taken (never
       * to a resolved one), instead of the reason: its request is taken from the region's budget
       * with the escalation's when there is room above a note's reserve, in one step. Best effort,
       * like the reason note: its outcome is among the pager's `calls()` (verb `note`).
       */
      readonly note?: string;
    } = {},
  ): Promise<{
    incident_id: string;
    escalation_level: number;
    escalated?: boolean;
    left?: 'resolved' | 'taken';
  }> {
    const note = options.note !== undefined && options.note !== '' ? options.note : undefined;
    const noteText =
      note ?? (reason !== '' && this.#core.noteReasons ? `Escalated by Lazarus: ${reason}` : undefined);
    type Escalated = {
      incident_id: string;
      escalation_level: number;
      escalated?: boolean;
      left?: 'resolved' | 'taken';
    };
    return this.#run<Escalated>(
      'escalate',
      incidentKey,
      signal,
      async (ctx) => {
        const release = this.#core.updates.prepare();
        try {
          const found = await this.#lookup(incidentKey, ctx);
          const leave = (
            left: 'resolved' | 'taken',
          ): { result: Escalated; id: string; afterwards?: () => Promise<void> } => ({
            result: { incident_id: found.id, escalation_level: 0, escalated: false, left },
            id: found.id,
            // The note is the evidence: a page people have is noted too, a resolved one never.
            ...(left === 'taken' && note !== undefined && ctx.following > 0
              ? { afterwards: () => this.#bestEffortNote(incidentKey, found.id, note, ctx) }
              : {}),
          });
          if (found.status === 'resolved') return leave('resolved');
          const self = await this.#selfId(ctx);
          if (!found.assignees.includes(self)) return leave('taken');
          if (options.onlyUntaken === true && found.status !== 'triggered') return leave('taken');
          const target = OWN_LEVEL + 1;
          const update = this.#core.updates.update(found.id, { escalation_level: target }, ctx);
          release();
          const answer = await update;
          if (answer.status !== 200) throw failure(answer, `escalate ${incidentKey} to level ${target}`);
          return {
            result: { incident_id: found.id, escalation_level: target, escalated: true },
            id: found.id,
            // The evidence note only with its request in hand (granted with the escalation's): one
            // that would wait for the budget is the caller's to send on its own, after the record.
            ...(noteText === undefined || (note !== undefined && ctx.following === 0)
              ? {}
              : { afterwards: () => this.#bestEffortNote(incidentKey, found.id, noteText, ctx) }),
          };
        } finally {
          release();
        }
      },
      () => 2,
      {
        // Handing back a page the controller holds (it acknowledged it, so PagerDuty's timer is
        // stopped and nobody else is paged) is in no race and as urgent as an acknowledgement: it
        // waits behind nothing but them, for as long as a resolve may.
        ...(options.onlyUntaken === true ? {} : { priority: 'acknowledge', noRace: true }),
        ...(noteText === undefined ? {} : { then: { count: 1, priority: 'note' } }),
      },
    );
  }

  /** Adds a note. Not idempotent: a retry after a lost answer can add the note twice (better than none). */
  note(incidentKey: string, content: string, signal: AbortSignal): Promise<{ note_id: string }> {
    return this.#run(
      'note',
      incidentKey,
      signal,
      async (ctx) => {
        const { id, answer } = await this.#withIncident(incidentKey, ctx, (incidentId) =>
          this.#request(notesRequest(incidentId, content), ctx),
        );
        if (answer.status !== 201 && answer.status !== 200) throw failure(answer, `note on ${incidentKey}`);
        const noteId = (answer.data as { note?: { id?: unknown } } | undefined)?.note?.id;
        return { result: { note_id: typeof noteId === 'string' ? noteId : '' }, id };
      },
      () => this.#lookups(incidentKey),
    );
  }

  /** An update of the key's incident: 1 request with its id cached, 2 with a lookup first. */
  #lookups(incidentKey: string): number {
    return this.#core.cache.has(incidentKey) ? 1 : 2;
  }

  /** Runs one port call: sets up its budget, records it, turns an abort into the signal's reason. */
  async #run<T>(
    verb: PagerVerb,
    incidentKey: string,
    signal: AbortSignal,
    body: (ctx: CallContext) => Promise<{ result: T; id: string; afterwards?: () => Promise<void> }>,
    /** The HTTP requests the call expects to make (taken from the budget before the first one). */
    plan: () => number,
    how: {
      readonly priority?: PagePriority;
      readonly noRace?: boolean;
      /** The requests of the note that follows (`afterwards`), taken with the plan if there is room. */
      readonly then?: FollowingCall;
    } = {},
  ): Promise<T> {
    const core = this.#core;
    const startedAt = core.now();
    const budgetStart = this.#budgetStartMs ?? startedAt;
    const priority = how.priority ?? PRIORITY[verb];
    const ctx: CallContext = {
      // A resolve is in no race (the page is the controller's, nobody is being paged): it may wait
      // out a storm rather than fail a remediation that worked.
      deadline:
        verb === 'resolve' || how.noRace === true
          ? startedAt + Math.max(core.budgetMs, RESOLVE_BUDGET_MS)
          : budgetStart + core.budgetMs,
      signal,
      startedAt,
      attempts: 0,
      credits: 0,
      following: 0,
      // One request of the plan, or one more (a retry, a second lookup) from the budget.
      permit: async () => {
        await this.#pauseOver(ctx.deadline, signal);
        if (ctx.credits > 0) {
          ctx.credits -= 1;
          return;
        }
        await core.budget.take(1, priority, ctx.deadline, signal);
      },
      // Not sent: a credit again, which the call gives back when it ends.
      unused: () => {
        ctx.credits += 1;
      },
      rateLimited: (untilMs) => core.budget.pause(untilMs),
    };
    const giveBack = (): void => {
      core.budget.give(ctx.credits);
      ctx.credits = 0;
    };
    const giveBackFollowing = (): void => {
      core.budget.give(ctx.following);
      ctx.following = 0;
    };
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
      // The whole plan before the first request: a page the budget cannot answer is not looked up.
      const planned = plan();
      ctx.following = await core.budget.take(planned, priority, ctx.deadline, signal, how.then);
      ctx.credits = planned;
      const { result, id, afterwards } = await body(ctx);
      giveBack();
      // Settled before the trailing note: the latency is the escalation's (resolution's) own.
      settle({ ok: true, incidentId: id });
      // Best effort: the call has settled ok, and nothing the note meets makes it fail (an abort
      // leaves the note unrecorded: the caller may add it on its own).
      await afterwards?.().catch(() => undefined);
      giveBackFollowing();
      return result;
    } catch (error) {
      giveBack();
      giveBackFollowing();
      const code = error instanceof LzError ? error.code : signal.aborted ? 'aborted' : 'error';
      settle({ ok: false, code, error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  /**
   * A 429 this node received holds back even the requests a call has in hand: waits until its
   * reset, or refuses (`LZ_ERR_PAGER_OVER_BUDGET`) when that is past the call's deadline.
   */
  async #pauseOver(deadline: number, signal: AbortSignal): Promise<void> {
    const core = this.#core;
    const paused = core.budget.pausedUntil() - core.now();
    if (paused <= 0) return;
    if (core.now() + paused > deadline - 50)
      throw new PagerError(
        PagerErrorCodes.OVER_BUDGET,
        `PagerDuty rate limited the controller's user until past this call's deadline: nothing more was sent`,
        { retryable: false },
      );
    await sleep(paused, signal);
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
    release?: () => void,
  ): Promise<FoundIncident> {
    const put = (incidentId: string): Promise<PagerDutyAnswer> => {
      const update = this.#core.updates.update(incidentId, { status }, ctx);
      release?.();
      return update;
    };
    const { id, answer } =
      knownId === undefined
        ? await this.#withIncident(incidentKey, ctx, put)
        : { id: knownId, answer: await put(knownId) };
    if (answer.status === 200)
      return incidentOf(answer.data) ?? { id, status, assignees: [], acknowledgers: [] };
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
   * Finds the incident of a key: the newest open one (`statuses[]` triggered and acknowledged,
   * `sort_by=created_at:desc`, so a key reused many times still finds it on the first page), else
   * the newest resolved one (a second call, made only when none is open). Polls while the key is
   * unknown, up to `incidentGraceMs` after the call's start (and within the budget).
   */
  async #lookup(incidentKey: string, ctx: CallContext): Promise<FoundIncident> {
    const core = this.#core;
    const graceEnd = Math.min(ctx.startedAt + core.graceMs, ctx.deadline);
    const list = async (statuses: readonly string[]): Promise<FoundIncident | undefined> => {
      const answer = await this.#request(
        {
          method: 'GET',
          path: '/incidents',
          query: {
            incident_key: incidentKey,
            'statuses[]': statuses,
            sort_by: 'created_at:desc',
            limit: '1',
          },
        },
        ctx,
      );
      if (answer.status !== 200) throw failure(answer, `look up incident key ${incidentKey}`);
      return pick(answer.data, incidentKey);
    };
    for (let poll = 0; ; poll++) {
      const found = (await list(['triggered', 'acknowledged'])) ?? (await list(['resolved']));
      if (found !== undefined) {
        core.remember(incidentKey, { id: found.id });
        return found;
      }
      const wait = Math.min(1_000, 250 * 2 ** poll);
      if (core.now() + wait > graceEnd) {
        throw new PagerError(
          PagerErrorCodes.NO_INCIDENT,
          `PagerDuty has no incident with incident key "${incidentKey}"`,
          { retryable: false, status: 200 },
        );
      }
      await sleep(wait, ctx.signal);
    }
  }

  /**
   * Whether the incident's log shows it handed on since it was triggered: escalated (by PagerDuty's
   * timer or a person), or assigned to anyone but the controller. Reads every page of the log (the
   * spec states no order, so none is assumed).
   */
  async #handedOn(incidentId: string, self: string, ctx: CallContext): Promise<string | undefined> {
    for (let offset = 0; ; offset += 100) {
      const answer = await this.#request(
        {
          method: 'GET',
          path: `/incidents/${encodeURIComponent(incidentId)}/log_entries`,
          query: { limit: '100', offset: String(offset) },
        },
        ctx,
      );
      if (answer.status !== 200) throw failure(answer, `read the log of incident ${incidentId}`);
      const { entries, more } = logEntriesOf(answer.data);
      const escalated = entries.find((e) => e.type === 'escalate_log_entry');
      if (escalated !== undefined) return `escalated (by ${escalated.agent ?? 'PagerDuty'})`;
      const reassigned = entries.find((e) => e.type === 'assign_log_entry' && !e.assignees.includes(self));
      if (reassigned !== undefined) return `reassigned (by ${reassigned.agent ?? 'someone'})`;
      if (!more || entries.length === 0) return undefined;
    }
  }

  /**
   * The id of the controller's own PagerDuty user: `userId` when configured, else looked up once with
   * `GET /users/me` (a user-level token's own user). A failed lookup throws (and is tried again next
   * time): without it, the controller cannot tell its own hold on a page from a person's.
   */
  async #selfId(ctx: CallContext): Promise<string> {
    const core = this.#core;
    if (core.selfId !== undefined) return core.selfId;
    const answer = await this.#request({ method: 'GET', path: '/users/me' }, ctx);
    if (answer.status !== 200)
      throw failure(
        answer,
        'look up its own user (GET /users/me needs a user-level token; or set pagerduty.user_id)',
      );
    const id = meOf(answer.data);
    if (id === undefined)
      throw new PagerError(PagerErrorCodes.REJECTED, 'GET /users/me named no user: set pagerduty.user_id', {
        retryable: false,
        status: answer.status,
      });
    core.selfId = id;
    return id;
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
    const core = this.#core;
    // A note waits behind every acknowledgement and escalation.
    const noteBudget: CallBudget = {
      deadline: ctx.deadline,
      signal: ctx.signal,
      // Its request taken with the call's plan, if there was room for it then.
      permit: async () => {
        if (ctx.following > 0) {
          await this.#pauseOver(ctx.deadline, ctx.signal);
          ctx.following -= 1;
          return;
        }
        await core.budget.take(1, 'note', ctx.deadline, ctx.signal);
      },
      // Not sent: the following call's again, which the call gives back when it ends.
      unused: () => {
        ctx.following += 1;
      },
      rateLimited: (untilMs) => core.budget.pause(untilMs),
    };
    try {
      const answer = await core.client.request(notesRequest(incidentId, content), noteBudget);
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
