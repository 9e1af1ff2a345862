/**
 * The region's PagerDuty request budget. PagerDuty allows one user (the controller's first
 * responder) a number of REST requests a minute, 960 by default, across all its API keys, and
 * answers 429 beyond it. Three nodes pacing themselves alone would each believe they have all of
 * it; so the budget is one token bucket in Redis that every node draws from before every HTTP
 * attempt (retries included), and a 429 that one node receives pauses all of them until
 * PagerDuty's `ratelimit-reset`.
 *
 * The bucket holds `capacity` = a tenth of the minute's requests and refills so that no minute can
 * see more than 95 % of the limit granted: tokens taken for a call's whole plan are spent over a
 * few hundred milliseconds, and the margin covers those that cross a minute's boundary.
 *
 * Priorities when the budget is short, as reserves: an acknowledgement (an event about to act:
 * it keeps people asleep), and an escalation of a page the controller holds (nobody else is paged
 * for it), may take the bucket's last token; an escalation in the race only while a quarter of the
 * capacity is left; a resolve (in no race) the same, after them; a note only while half is left. Each node queues its
 * own calls in that order (acknowledgements nearest deadline first; escalations and notes newest
 * first: in a storm each token saves people the most time, and the oldest pages, which PagerDuty's
 * timer is about to escalate anyway, are the ones left to it). The call at the head of a node's
 * queue collects its tokens as they come above its floor, so that a call wanting three is not
 * starved by other nodes' calls wanting one or two; what it holds when it gives up goes back. The
 * calls queued behind it are served in the same step (one round trip to Redis for all of them, in
 * the queue's order) while each can have all it wants: a storm's escalations are not asked for one
 * round trip at a time. A call whose deadline (the end of its page's race) comes before its
 * turn is refused with `LZ_ERR_PAGER_OVER_BUDGET` having sent nothing: PagerDuty's own timer
 * escalates that page, and the caller records that it left it to the timer.
 *
 * Fail safe: when Redis cannot be read, nothing is sent (the same refusal, with the reason); a
 * request budget that cannot be counted is spent.
 */
import type { RedisClient } from '../common/redis.js';
import { viaRedis } from '../common/dependency.js';
import { defineScripts, runScript, script, SCRIPT_REPLY } from '../common/lua.js';
import { LzError } from '../common/errors.js';
import { PagerError, PagerErrorCodes } from './errors.js';
import { abortReason } from './retry-policy.js';

/** What a call is for, highest priority first. */
export type PagePriority = 'acknowledge' | 'escalate' | 'resolve' | 'note';

const RANK: Readonly<Record<PagePriority, number>> = { acknowledge: 0, escalate: 1, resolve: 2, note: 3 };
const BY_RANK: readonly PagePriority[] = ['acknowledge', 'escalate', 'resolve', 'note'];

/** PagerDuty's documented REST limit for one user. */
export const PAGERDUTY_REQUESTS_PER_MINUTE = 960;

/** The lowest `requests_per_minute` that leaves room for one call of each priority. */
export const MIN_REQUESTS_PER_MINUTE = 60;

export interface RequestBudget {
  /** The requests a minute the region may send (PagerDuty's limit for the controller's user). */
  readonly perMinute: number;
  /**
   * Waits for `count` requests' worth of budget at `priority`; rejects with
   * `LZ_ERR_PAGER_OVER_BUDGET` when it cannot have them before `deadline` (epoch ms) or the budget
   * cannot be read, and with the signal's reason when it fires. With `then` (the requests of a call
   * that will follow, at its own priority: a note after an escalation), also takes those in the
   * same step when there is room above their priority's floor, and resolves with how many it got
   * (0 otherwise: the call takes its own later); the caller gives back what it does not spend.
   */
  take(
    count: number,
    priority: PagePriority,
    deadline: number,
    signal: AbortSignal,
    then?: FollowingCall,
  ): Promise<number>;
  /** Gives back tokens taken and not spent (a plan cut short). Best effort. */
  give(count: number): void;
  /** PagerDuty answered 429: nothing is granted to any node before `untilMs`. Best effort. */
  pause(untilMs: number): void;
  /** Until when this node must not send even what it already holds (a 429 it received). */
  pausedUntil(): number;
}

/** The requests of a call that will follow the one taking (see `RequestBudget.take`). */
export interface FollowingCall {
  readonly count: number;
  readonly priority: PagePriority;
}

/** A budget that never refuses (no Redis; unit tests, the CLI). */
export const UNLIMITED_BUDGET: RequestBudget = {
  perMinute: Number.POSITIVE_INFINITY,
  take: (_count, _priority, _deadline, signal, then) =>
    signal.aborted ? Promise.reject(abortReason(signal)) : Promise.resolve(then?.count ?? 0),
  give: () => undefined,
  pause: () => undefined,
  pausedUntil: () => 0,
};

/**
 * `[granted, wait ms, level, granted to the call to follow]`, then `[granted, granted to the call to
 * follow]` for each further call served in the same step.
 */
const SCRIPT = script('pager', 'pager-budget', ['bucket'], (reply: unknown): number[] | undefined =>
  Array.isArray(reply) &&
  reply.length >= 4 &&
  reply.length % 2 === 0 &&
  reply.every((v) => typeof v === 'number' && Number.isFinite(v))
    ? (reply as number[])
    : undefined,
);

/**
 * Calls served in one step (one round trip) at most: the waiting call and those queued behind it,
 * in the queue's order, while there are tokens for each one whole.
 */
const MAX_CALLS_A_STEP = 16;
/**
 * Longest that tokens given back wait on the node for its next step to Redis before they go on
 * their own (meanwhile the other nodes cannot have them: a few tokens, for a quarter second).
 */
const SPARE_HOLD_MS = 250;

/** Longest sleep between two asks of a waiting node: a new, more urgent call is not kept waiting longer. */
const MAX_POLL_MS = 250;
/** A call with less than this left before its deadline is not worth a token. */
const MIN_USEFUL_MS = 100;

export interface SharedBudgetOptions {
  readonly redis: RedisClient;
  /** The bucket's key (one per region). */
  readonly key: string;
  /** @defaultValue `960` */
  readonly perMinute?: number;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /** Told when Redis could not be read (the waiting call is refused). */
  readonly onError?: (error: unknown) => void;
}

interface Waiter {
  readonly count: number;
  /** The requests of the call to follow, asked with the last of `count` (0: none). */
  readonly then: number;
  readonly thenRank: number;
  /** Tokens collected so far (given back if the call gives up). */
  held: number;
  readonly rank: number;
  readonly deadline: number;
  readonly seq: number;
  readonly signal: AbortSignal;
  readonly resolve: (following: number) => void;
  readonly reject: (error: Error) => void;
}

/** The bucket's shape for a limit: see the module comment. */
export function bucketFor(perMinute: number): {
  capacity: number;
  ratePerMinute: number;
  floors: Readonly<Record<PagePriority, number>>;
} {
  const capacity = Math.max(8, Math.ceil(perMinute / 10));
  return {
    capacity,
    ratePerMinute: perMinute * 0.95 - capacity,
    floors: {
      acknowledge: 0,
      escalate: Math.floor(capacity / 4),
      // A resolve keeps the escalations' reserve, and waits behind them: it is in no race.
      resolve: Math.floor(capacity / 4),
      note: Math.floor(capacity / 2),
    },
  };
}

export class SharedRequestBudget implements RequestBudget {
  readonly perMinute: number;
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #now: () => number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #bucket: ReturnType<typeof bucketFor>;
  readonly #queue: Waiter[] = [];
  #seq = 0;
  #pumping = false;
  /** The pump is to start after this turn of the event loop. */
  #starting = false;
  /** Wakes the pump from its sleep when a more urgent call arrives. */
  #wake: (() => void) | undefined;
  /** A more urgent call arrived while the pump was asking Redis: no sleep before the next ask. */
  #dirty = false;
  /** The call the pump served last, which may hold part of its tokens. */
  #serving: Waiter | undefined;
  /** Until when this node received a 429 (epoch ms): what it holds is not sent before. */
  #pausedUntil = 0;
  /** Tokens the node's calls gave back and the bucket has not had again yet (they go with the next step). */
  #spare = 0;
  #spareTimer: NodeJS.Timeout | undefined;

  constructor(options: SharedBudgetOptions) {
    this.perMinute = options.perMinute ?? PAGERDUTY_REQUESTS_PER_MINUTE;
    if (!(this.perMinute >= MIN_REQUESTS_PER_MINUTE))
      throw new RangeError(`requests per minute must be at least ${MIN_REQUESTS_PER_MINUTE}`);
    this.#redis = options.redis;
    this.#key = options.key;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    this.#bucket = bucketFor(this.perMinute);
    defineScripts(this.#redis, [SCRIPT]);
  }

  take(
    count: number,
    priority: PagePriority,
    deadline: number,
    signal: AbortSignal,
    then?: FollowingCall,
  ): Promise<number> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    // Nothing to take now: the following call takes its own.
    if (count <= 0) return Promise.resolve(0);
    // A plan larger than the priority's share of the bucket could never be granted whole.
    const most = this.#bucket.capacity - this.#bucket.floors[priority];
    const wanted = Math.min(count, most);
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        count: wanted,
        then: Math.max(0, then?.count ?? 0),
        thenRank: RANK[then?.priority ?? 'note'],
        held: 0,
        rank: RANK[priority],
        deadline,
        seq: this.#seq++,
        signal,
        resolve: (following) => {
          signal.removeEventListener('abort', onAbort);
          resolve(following);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = (): void => {
        const at = this.#queue.indexOf(waiter);
        if (at >= 0) this.#queue.splice(at, 1);
        this.give(waiter.held);
        waiter.held = 0;
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const head = this.#best();
      this.#queue.push(waiter);
      if (head === undefined || before(waiter, head)) {
        this.#dirty = true;
        this.#wake?.();
      }
      // Started after this turn of the event loop: the calls asked in the same turn (a batch's
      // escalations, decided together) go to Redis in one step.
      if (!this.#pumping && !this.#starting) {
        this.#starting = true;
        setImmediate(() => {
          this.#starting = false;
          void this.#pump();
        });
      }
    });
  }

  /**
   * Tokens a call took and did not spend go back with this node's next step to Redis (a take asked
   * for any call), or within `SPARE_HOLD_MS` on their own when no step comes: a call that ends
   * costs no round trip of its own.
   */
  give(count: number): void {
    if (count <= 0) return;
    this.#spare += count;
    this.#spareTimer ??= setTimeout(() => {
      this.#spareTimer = undefined;
      this.#returnSpare();
    }, SPARE_HOLD_MS).unref();
  }

  /** The spare tokens back to the bucket now, on their own. */
  #returnSpare(): void {
    const spare = this.#takeSpare();
    if (spare > 0) void this.#call('give', spare).catch((error: unknown) => this.#onError?.(error));
  }

  #takeSpare(): number {
    clearTimeout(this.#spareTimer);
    this.#spareTimer = undefined;
    const spare = this.#spare;
    this.#spare = 0;
    return spare;
  }

  pause(untilMs: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, untilMs);
    void this.#call('pause', Math.round(untilMs)).catch((error: unknown) => this.#onError?.(error));
  }

  /**
   * Until when this node must not send what it already holds (epoch ms; in the past when it may):
   * the reset of a 429 it received.
   */
  pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** Tokens left now (tests, metrics). */
  async level(): Promise<number> {
    return (await this.#call('give', this.#takeSpare()))[2] ?? 0;
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        this.#refuseExpired();
        const waiter = this.#best();
        if (waiter === undefined) return;
        // A call pushed aside by a more urgent one gives back what it had collected, so that no
        // tokens wait locked behind a call that is not being served.
        const previous = this.#serving;
        if (
          previous !== undefined &&
          previous !== waiter &&
          previous.held > 0 &&
          this.#queue.includes(previous)
        ) {
          this.give(previous.held);
          previous.held = 0;
        }
        this.#serving = waiter;
        this.#dirty = false;
        // The calls queued behind it, in turn, in the same step: each is served only when all
        // before it got all they wanted (the others hold nothing: only the call served holds).
        const batch = [
          waiter,
          ...this.#queue.filter((w) => w !== waiter).sort((a, b) => (before(a, b) ? -1 : 1)),
        ].slice(0, MAX_CALLS_A_STEP);
        // What each asks for now (the first may hold part of its tokens already).
        const asked = batch.map((w) => w.count - w.held);
        let reply: number[];
        try {
          reply = await this.#take(batch);
        } catch (error) {
          this.#onError?.(error);
          // The call served first is refused, as when it was asked alone; the others stay queued
          // for the next step (each ask is its own chance). A timed-out step may have taken their
          // tokens too: unknown, so not given back (a budget that cannot be counted is spent).
          this.#refuse(
            waiter,
            `the region's PagerDuty request budget could not be read (${error instanceof Error ? error.message : String(error)}): nothing was sent`,
            error,
          );
          continue;
        }
        let short: Waiter | undefined;
        /** The call the script left short was withdrawn meanwhile: ask again at once for the next. */
        let again = false;
        /** Past the call the script left short: it granted nothing after it. */
        let past = false;
        for (const [i, w] of batch.entries()) {
          const granted = (i === 0 ? reply[0] : reply[2 * i + 2]) ?? 0;
          const following = (i === 0 ? reply[3] : reply[2 * i + 3]) ?? 0;
          const whole = granted >= (asked[i] ?? 0);
          if (past || !this.#queue.includes(w)) {
            // Withdrawn (its signal fired) while Redis answered: what it was granted goes back.
            this.give(granted + following);
            if (!past && !whole) past = again = true;
            continue;
          }
          if (!whole) {
            past = true;
            w.held += granted;
            short = w;
            this.#serving = w;
            continue;
          }
          // Handed over to the call, which spends them (and gives back the following call's unspent).
          w.held = 0;
          if (this.#serving === w) this.#serving = undefined;
          this.#remove(w);
          w.resolve(following);
        }
        if (again) continue;
        if (short === undefined || this.#dirty) continue;
        const left = short.deadline - this.#now();
        const wait = Math.max(1, Math.min(reply[1] ?? MAX_POLL_MS, MAX_POLL_MS, left - MIN_USEFUL_MS + 1));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, wait);
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
          this.#wake = done;
        });
        this.#wake = undefined;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Refuses every call whose deadline is too close to be worth a request. */
  #refuseExpired(): void {
    const now = this.#now();
    for (const waiter of [...this.#queue])
      if (waiter.deadline - now < MIN_USEFUL_MS)
        this.#refuse(
          waiter,
          `the region's PagerDuty request budget (${this.perMinute}/min) had no room for this call before its page's race ended: nothing was sent, PagerDuty's own timer escalates the page`,
        );
  }

  #refuse(waiter: Waiter, message: string, cause?: unknown): void {
    this.#remove(waiter);
    this.give(waiter.held);
    waiter.held = 0;
    waiter.reject(
      new PagerError(PagerErrorCodes.OVER_BUDGET, message, {
        retryable: false,
        ...(cause === undefined ? {} : { cause }),
      }),
    );
  }

  /**
   * The next waiter to serve: highest priority first, then as `before` orders a priority; but a
   * call partly served keeps its turn against newer calls of its own priority (otherwise each new
   * escalation would push the last one aside with a token in hand).
   */
  #best(): Waiter | undefined {
    let best: Waiter | undefined;
    for (const w of this.#queue) if (best === undefined || before(w, best)) best = w;
    const serving = this.#serving;
    if (
      best !== undefined &&
      serving !== undefined &&
      serving.held > 0 &&
      serving.rank === best.rank &&
      this.#queue.includes(serving)
    )
      return serving;
    return best;
  }

  #remove(waiter: Waiter): void {
    const at = this.#queue.indexOf(waiter);
    if (at >= 0) this.#queue.splice(at, 1);
  }

  /** One take for `batch` (the first call first): the script's reply. */
  #take(batch: readonly Waiter[]): Promise<number[]> {
    // What the node's calls gave back goes first, in the same step (lost if the step fails: a
    // budget that cannot be counted is spent).
    const spare = this.#takeSpare();
    return this.#script(spare > 0 ? 'give-take' : 'take', [
      ...(spare > 0 ? [spare] : []),
      ...batch.flatMap((w) => [
        w.count - w.held,
        this.#bucket.floors[priorityOf(w.rank)],
        w.then,
        w.then === 0 ? 0 : this.#bucket.floors[priorityOf(w.thenRank)],
      ]),
    ]);
  }

  async #call(op: 'give' | 'pause', amount: number): Promise<number[]> {
    return this.#script(op, [amount, 0, 0, 0]);
  }

  async #script(op: 'take' | 'give' | 'pause' | 'give-take', args: readonly number[]): Promise<number[]> {
    const { capacity, ratePerMinute } = this.#bucket;
    return viaRedis('PagerDuty request budget', () =>
      runScript(this.#redis, SCRIPT, { bucket: this.#key }, [
        op,
        Math.round(this.#now()),
        capacity,
        ratePerMinute,
        ...args,
      ]),
    ).catch((error: unknown) => {
      // A reply the script never gives grants nothing.
      if (error instanceof LzError && error.code === SCRIPT_REPLY)
        throw new PagerError(PagerErrorCodes.OVER_BUDGET, `the budget script answered: ${error.message}`);
      throw error;
    });
  }
}

function before(a: Waiter, b: Waiter): boolean {
  if (a.rank !== b.rank) return a.rank < b.rank;
  if (a.deadline !== b.deadline)
    // An acknowledgement counts only if it lands in its race: the nearest deadline first. An
    // escalation or a note is worth the time it saves before PagerDuty's timer: the newest first,
    // so that in a storm the oldest pages, the ones the timer is about to escalate anyway, are
    // the ones left to it.
    return a.rank === 0 ? a.deadline < b.deadline : a.deadline > b.deadline;
  return a.seq < b.seq;
}

function priorityOf(rank: number): PagePriority {
  return BY_RANK[rank] ?? 'note';
}
