/**
 * Incident updates sent together: the status changes and escalations that the pager's calls make
 * at about the same moment go to PagerDuty as one `PUT /incidents` (its "Manage incidents": one or
 * more incidents, at most 250 a request) instead of one `PUT /incidents/{id}` each.
 *
 * In a storm every page is escalated, and PagerDuty's REST limit (960 requests a minute for the
 * controller's user, shared by the region) is what makes the last page wait: an escalation is a
 * lookup, an update and a note, and the updates of the escalations looked up together are one
 * request here. A call's own answer is its incident's entry in the reply.
 *
 * When: an update waits while another call that will update an incident is still looking it up
 * (`prepare()` counts those), and for at most `windowMs` after the first update queued; then, or at
 * once when nothing is being looked up, everything queued goes. A lone update goes as the
 * single-incident `PUT /incidents/{id}`, exactly as before.
 *
 * What PagerDuty's spec says and what is assumed: a 200 means "all of the updates succeeded"; the
 * spec gives no partial answer, so a request refused as a whole (any 4xx) is not read for which
 * update failed: each of its updates is sent again on its own, and each call then gets its own
 * incident's answer, as if it had been alone (a 400 on a stale cached id, a resolved incident);
 * so does an update that a 200 does not show. One update of an incident a request.
 *
 * The request's deadline is the earliest of its calls' (no call waits past its own). When it
 * fails by then (PagerDuty unreachable, the budget spent), a call whose own deadline is later
 * tries on its own; the others fail with the error, as they would have alone. Its attempts are
 * paid from the calls' requests in hand, one at a time. A call that aborts leaves with its own
 * abort at once, and the attempts after that leave its update out; the request is abandoned when
 * every call in it has aborted.
 *
 * `PUT /incidents` has operation-specific rate limits (the spec's `x-pd-operation-limit`; their
 * numbers are not published in it), and a 429 cannot tell them from the user's. So a 429 on a
 * shared update holds the region off until its reset, as any 429 does; then its updates go one by
 * one, and so does every update until that reset.
 */
import type { CallBudget, PagerDutyAnswer, PagerDutyClient, PagerDutyRequest } from './pagerduty-client.js';
import { abortReason } from './retry-policy.js';

/** What an update sets: a status, an escalation level, or both (the spec's incident fields). */
export interface IncidentFields {
  readonly status?: 'acknowledged' | 'resolved' | 'triggered';
  readonly escalation_level?: number;
}

/** The budget of the call that makes an update, with the count of requests it has in hand. */
export interface UpdateBudget extends CallBudget {
  /** Requests taken from the region's budget for the call and not sent yet. */
  readonly credits: number;
  /** HTTP attempts made for the call so far; the shared request's are added to each call's. */
  attempts: number;
}

/** PagerDuty's "A maximum of 250 incidents may be updated at a time". */
export const MAX_UPDATES_PER_REQUEST = 250;

interface Queued {
  readonly id: string;
  readonly fields: IncidentFields;
  readonly budget: UpdateBudget;
  readonly resolve: (answer: PagerDutyAnswer) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
  readonly stopListening: () => void;
}

export class IncidentUpdates {
  readonly #client: Pick<PagerDutyClient, 'request'>;
  readonly #windowMs: number;
  #queue: Queued[] = [];
  #preparing = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  /** Until when (epoch ms) PagerDuty's limit of the shared update holds: updates go one by one. */
  #sharedLimitedUntil = 0;
  readonly #now: () => number;

  /**
   * @param client - sends the requests
   * @param windowMs - longest an update waits for others (while some are still being looked up)
   * @param now - the clock of the shared update's rate limit (epoch ms)
   */
  constructor(client: Pick<PagerDutyClient, 'request'>, windowMs = 10, now: () => number = Date.now) {
    this.#client = client;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /**
   * A call that will update an incident once it has looked it up: updates queued meanwhile wait
   * for it (at most `windowMs`). Returns its release, to call when its update is queued or it
   * will make none; a second call of the release does nothing.
   */
  prepare(): () => void {
    this.#preparing += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#preparing -= 1;
      this.#schedule();
    };
  }

  /** Sets `fields` on incident `id` for a call with `budget`: resolves with the incident's answer. */
  update(id: string, fields: IncidentFields, budget: UpdateBudget): Promise<PagerDutyAnswer> {
    return new Promise<PagerDutyAnswer>((resolve, reject) => {
      if (budget.signal.aborted) return reject(abortReason(budget.signal));
      const onAbort = (): void => settle(() => reject(abortReason(budget.signal)));
      const queued: Queued = {
        id,
        fields,
        budget,
        resolve: (answer) => settle(() => resolve(answer)),
        reject: (error) => settle(() => reject(error instanceof Error ? error : new Error(String(error)))),
        settled: false,
        stopListening: () => budget.signal.removeEventListener('abort', onAbort),
      };
      const settle = (then: () => void): void => {
        if (queued.settled) return;
        queued.settled = true;
        queued.stopListening();
        then();
      };
      budget.signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(queued);
      this.#timer ??= setTimeout(() => this.#flush(), this.#windowMs);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#queue.length === 0 || this.#immediate !== undefined) return;
    if (this.#preparing > 0 && this.#queue.length < MAX_UPDATES_PER_REQUEST) return;
    // After this turn: the updates queued in it go together.
    this.#immediate = setImmediate(() => this.#flush());
  }

  #flush(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    const live = this.#queue.filter((q) => !q.settled);
    this.#queue = [];
    // At most 250 a request, and one update of an incident a request (its answer is the one entry).
    const groups: { calls: Queued[]; ids: Set<string> }[] = [];
    for (const q of live) {
      let group = groups.find((g) => g.calls.length < MAX_UPDATES_PER_REQUEST && !g.ids.has(q.id));
      if (group === undefined) groups.push((group = { calls: [], ids: new Set() }));
      group.calls.push(q);
      group.ids.add(q.id);
    }
    for (const group of groups) void this.#send(group.calls);
  }

  async #send(group: readonly Queued[]): Promise<void> {
    const [only] = group;
    if (group.length === 1 && only !== undefined) return this.#alone(only);
    if (this.#now() < this.#sharedLimitedUntil) {
      await Promise.all(group.map((q) => this.#alone(q)));
      return;
    }
    const request: PagerDutyRequest = {
      method: 'PUT',
      path: '/incidents',
      // Built for each attempt: a call that has aborted meanwhile is left out of it.
      body: () => ({
        incidents: group
          .filter((q) => !q.settled)
          .map((q) => ({ id: q.id, type: 'incident_reference', ...q.fields })),
      }),
    };
    let limitedUntil: number | undefined;
    const { budget, done } = groupBudget(group, (untilMs) => {
      limitedUntil = untilMs;
    });
    try {
      const answer = await this.#client.request(request, budget);
      for (const q of group) q.budget.attempts += answer.attempts;
      if (answer.status === 200) {
        const incidents = (answer.data as { incidents?: unknown } | undefined)?.incidents;
        const byId = new Map<string, unknown>();
        if (Array.isArray(incidents))
          for (const incident of incidents) {
            const id = (incident as { id?: unknown } | null)?.id;
            if (typeof id === 'string') byId.set(id, incident);
          }
        // "All of the updates succeeded"; one the answer does not show is sent again on its own
        // (an update is idempotent): no call is told of an update it has no answer for.
        await Promise.all(
          group.map((q) => {
            const incident = byId.get(q.id);
            if (incident === undefined) return q.settled ? Promise.resolve() : this.#alone(q);
            q.resolve({ status: 200, data: { incident }, attempts: answer.attempts });
            return Promise.resolve();
          }),
        );
        return;
      }
      // Refused as a whole: which update PagerDuty objected to is not read; each goes on its own.
      await Promise.all(group.map((q) => (q.settled ? Promise.resolve() : this.#alone(q))));
    } catch (error) {
      const attempts = attemptsOf(error);
      if (limitedUntil !== undefined) {
        // Rate limited: the region holds off until the reset (the 429 may be the user's limit),
        // then the updates go one by one, as every update does until then (it may be the
        // operation's own). The 429 was an attempt of each.
        this.#sharedLimitedUntil = Math.max(this.#sharedLimitedUntil, limitedUntil);
        for (const q of group) q.budget.attempts += Math.max(1, attempts);
        await Promise.all(group.map((q) => (q.settled ? Promise.resolve() : this.#alone(q))));
        return;
      }
      // Failed by the group's deadline, the earliest of its calls': a call with time left past it
      // tries on its own; the others fail with the error, as they would have alone.
      await Promise.all(
        group.map((q) => {
          if (q.settled) return Promise.resolve();
          q.budget.attempts += attempts;
          if (q.budget.signal.aborted) q.reject(abortReason(q.budget.signal));
          else if (q.budget.deadline > budget.deadline) return this.#alone(q);
          else q.reject(error);
          return Promise.resolve();
        }),
      );
    } finally {
      done();
    }
  }

  async #alone(q: Queued): Promise<void> {
    try {
      const answer = await this.#client.request(
        {
          method: 'PUT',
          path: `/incidents/${encodeURIComponent(q.id)}`,
          body: { incident: { type: 'incident_reference', ...q.fields } },
        },
        q.budget,
      );
      q.budget.attempts += answer.attempts;
      q.resolve(answer);
    } catch (error) {
      q.budget.attempts += attemptsOf(error);
      q.reject(error);
    }
  }
}

/** The HTTP attempts a failed request made (a `PagerError` says), else 0. */
function attemptsOf(error: unknown): number {
  const attempts =
    typeof error === 'object' && error !== null ? (error as { attempts?: unknown }).attempts : 0;
  return typeof attempts === 'number' ? attempts : 0;
}

/**
 * The budget of a request made for several calls: the earliest deadline; a signal that fires when
 * every call has aborted; each attempt paid by a call still in it, one with requests in hand first;
 * a 429 ends it (`limited`).
 */
function groupBudget(
  group: readonly Queued[],
  limited: (untilMs: number) => void,
): { budget: CallBudget; done: () => void } {
  const controller = new AbortController();
  const listeners: (() => void)[] = [];
  const live = (): Queued[] => group.filter((q) => !q.budget.signal.aborted);
  const check = (): void => {
    if (live().length === 0 && !controller.signal.aborted)
      controller.abort(abortReason(group[0]!.budget.signal));
  };
  for (const q of group) {
    q.budget.signal.addEventListener('abort', check, { once: true });
    listeners.push(() => q.budget.signal.removeEventListener('abort', check));
  }
  check();
  let payer: Queued | undefined;
  const budget: CallBudget = {
    deadline: Math.min(...group.map((q) => q.budget.deadline)),
    signal: controller.signal,
    permit: async () => {
      for (;;) {
        const calls = live();
        const next = calls.find((q) => q.budget.credits > 0) ?? calls[0];
        if (next === undefined) throw abortReason(controller.signal);
        if (next.budget.permit === undefined) {
          payer = next;
          return;
        }
        try {
          await next.budget.permit();
          payer = next;
          return;
        } catch (error) {
          // That call aborted while it waited: another one pays.
          if (next.budget.signal.aborted && !controller.signal.aborted) continue;
          throw error;
        }
      }
    },
    unused: () => payer?.budget.unused?.(),
    // The region's pause, as for any 429; the request stops there, and its updates go one by one.
    rateLimited: (untilMs) => {
      limited(untilMs);
      group[0]?.budget.rateLimited?.(untilMs);
      controller.abort(new Error('PagerDuty rate limited the shared update'));
    },
  };
  return { budget, done: () => listeners.forEach((stop) => stop()) };
}
