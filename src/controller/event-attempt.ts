/**
 * One node's attempt at deciding one event: the only code that talks to the event's claim, its
 * attempt record and its decision (the `claim`, `attempt` and `decide` scripts), and to the
 * resource lock the attempt takes. An explicit state machine:
 *
 *   new ──claim──▶ claimed ──takeLock──▶ locked ──record──▶ acknowledging ──decide──▶ decided
 *    │               │  └────────────record───────────────────▲       │
 *    │               └──────────────decide (no act)──────────────────────────────▶ decided
 *    └─▶ superseded  (decided already, or another node's decision is written first)
 *   any live phase ──record refused──▶ lost (the claim expired: nothing acts) ──decide──▶ …
 *   any live phase ──Redis lost──▶ parked (the outbox writes the decision later) ──▶ decided | …
 *   any live phase ──unprocessable──▶ set_aside
 *
 * `decided`, `superseded` and `set_aside` are final. A transition the table does not list is a
 * bug, refused with `LZ_ERR_ATTEMPT_STATE` (not retryable: the event is set aside, nothing acts).
 *
 * Takeover: a claim won after another node's attempt died hands back what that attempt had taken
 * (`earlier`): its lock is taken over by `takeLock` (same resource) or released by `finish`, and
 * its page is this attempt's to answer for.
 */
import type { Logger } from 'pino';
import { lockRef } from '../common/lock-ref.js';
import type { LockRef } from '../common/lock-ref.js';
import type { DecisionRecord } from '../records/decision.js';
import type { HeldLock, LockResult, ResourceLocks } from '../safety/lock.js';
import type { Windows, WindowsOf } from '../safety/gate-windows.js';
import type { Attempt, DecisionStore } from './decision-store.js';
import { CONTROLLER_ERRORS } from './errors.js';

export type Phase =
  'new' | 'claimed' | 'locked' | 'acknowledging' | 'lost' | 'parked' | 'decided' | 'superseded' | 'set_aside';

/** Every edge of the machine; anything else is refused. */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  new: ['claimed', 'superseded', 'parked', 'set_aside'],
  claimed: ['locked', 'acknowledging', 'lost', 'decided', 'superseded', 'parked', 'set_aside'],
  locked: ['acknowledging', 'lost', 'decided', 'superseded', 'parked', 'set_aside'],
  acknowledging: ['decided', 'superseded', 'parked', 'set_aside'],
  lost: ['decided', 'superseded', 'parked', 'set_aside'],
  parked: ['decided', 'superseded', 'set_aside'],
  decided: [],
  superseded: [],
  set_aside: [],
};

export interface AttemptDeps {
  readonly store: DecisionStore;
  readonly locks: ResourceLocks;
  /** This node's id: the claim's holder. */
  readonly node: string;
  /**
   * How long a claim lasts: it outlives the vote, the acknowledgement of the page and the write of
   * the decision, with room to spare.
   */
  readonly claimTtlMs: number;
  /** The clock (injected by tests): a claim is waited for at most three claim lifetimes by it. */
  readonly now: () => number;
  /** Waits between two tries at a claim another node holds (injected by tests). @defaultValue setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Between two looks at a claim another node holds. */
export const CLAIM_POLL_MS = 100;

export class EventAttempt {
  #phase: Phase = 'new';
  #lock: HeldLock | undefined;
  #earlier: Attempt | undefined;
  #acknowledged = false;

  constructor(
    private readonly deps: AttemptDeps,
    readonly eventId: string,
  ) {}

  get phase(): Phase {
    return this.#phase;
  }

  /** The lock this attempt holds, until it is released or handed to the decision. */
  get lock(): HeldLock | undefined {
    return this.#lock;
  }

  /** What an earlier attempt at the event, which died before its decision, had taken. */
  get earlier(): Attempt | undefined {
    return this.#earlier;
  }

  /** Whether the event's claim was won (so its page is this attempt's to answer for). */
  get claimed(): boolean {
    return this.#won;
  }

  /** The gates' windows counted with the claim (see `claim`), and for what. */
  get counted(): { readonly of: WindowsOf; readonly windows: Windows } | undefined {
    return this.#counted;
  }

  #counted: { readonly of: WindowsOf; readonly windows: Windows } | undefined;

  #won = false;
  /** The decision was written and no attempt record was there with it (see `finish`). */
  #noRecord = false;
  /** A lock asked for whose answer was lost: it may be held by this attempt, token unknown. */
  #unsure: { readonly resource: string; readonly owner: string } | undefined;

  /**
   * Takes the right to decide the event: `claimed`, or `superseded` when it is decided already.
   * When another node holds the claim (it reads the same record, e.g. during a takeover), waits for
   * its decision; if its claim expires without one (it died), takes over. Still held after three
   * claim lifetimes: `LZ_ERR_CLAIM_HELD` (retryable: the batch is tried again later).
   * `windows`: what to count in the gates' windows, as of each look (`undefined`: nothing, e.g. the
   * event is stale by then), counted in the same round trip as the claim that is won (`counted`).
   */
  async claim(windows?: () => WindowsOf | undefined): Promise<'claimed' | 'superseded'> {
    const { store, node, claimTtlMs } = this.deps;
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    // Bounded twice: by the clock (slow round trips do not stretch the wait), and by the number of
    // waits (a clock a test holds still cannot make it spin for ever).
    const polls = Math.ceil((3 * claimTtlMs) / CLAIM_POLL_MS);
    const deadline = this.deps.now() + 3 * claimTtlMs;
    for (let poll = 0; ; poll += 1) {
      const of = windows?.();
      const claim = await store.claim(this.eventId, node, claimTtlMs, of);
      if (claim.status === 'decided') {
        this.#go('superseded');
        return 'superseded';
      }
      if (claim.status === 'claimed') {
        this.#earlier = claim.earlier;
        if (of !== undefined && claim.counted !== undefined) this.#counted = { of, windows: claim.counted };
        this.#won = true;
        this.#go('claimed');
        return 'claimed';
      }
      if (poll >= polls || this.deps.now() > deadline)
        throw CONTROLLER_ERRORS.create(
          'CLAIM_HELD',
          `event ${this.eventId}: claimed by ${claim.holder} and still undecided`,
        );
      await sleep(CLAIM_POLL_MS);
    }
  }

  /**
   * Takes the resource lock for the event's remediation, owned by this node's decision of it
   * (should two nodes ever both decide it, neither can renew or release the other's). The lock of
   * an earlier attempt at this very event is taken over with a new token, provided, in the same
   * script, that the claim is this node's and the event has no decision: that attempt is over.
   */
  async takeLock(resource: string, ttlMs: number): Promise<LockResult> {
    this.#expect('locked');
    const earlier = this.#earlier?.lock;
    const owner = `event:${this.eventId}@${this.deps.node}`;
    // Until the reply says otherwise, the lock may be this attempt's: a command that timed out may
    // still be carried out (STACK-NOTES). Known by owner only, it is let go by `letGo`'s caller.
    this.#unsure = { resource, owner };
    const taken = await this.deps.locks.acquire(
      resource,
      owner,
      ttlMs,
      earlier !== undefined && earlier.resource === resource
        ? { takeOver: { from: earlier.owner, ...this.deps.store.claimProof(this.eventId, this.deps.node) } }
        : {},
    );
    this.#unsure = undefined;
    if (taken.acquired) {
      this.#lock = taken.lock;
      this.#go('locked');
    }
    return taken;
  }

  /** Lets the lock go (the decision will not act on it). Quiet: a lock not released lapses by its TTL. */
  async releaseLock(log: Logger): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    if (lock !== undefined) await releaseQuietly(lock, log);
  }

  /**
   * Records what this attempt has taken (its lock; the page it is about to acknowledge, or that an
   * earlier attempt acknowledged) before PagerDuty is called, and only while the claim is this
   * node's: should the node die during or after the call, the next one takes the lock over or frees
   * it, and answers for the page. `false` (phase `lost`): the claim expired, nothing may act.
   */
  async record(willAcknowledge: boolean, ttlMs: number): Promise<boolean> {
    this.#expect('acknowledging');
    const lock = this.#lock;
    const acknowledged = willAcknowledge || this.#earlier?.acknowledged === true;
    const attempt: Attempt = {
      node: this.deps.node,
      ...(lock === undefined ? {} : { lock: lock.toJSON() }),
      ...(acknowledged ? { acknowledged: true } : {}),
    };
    const recorded = await this.deps.store.recordAttempt(this.eventId, attempt, ttlMs);
    this.#acknowledged = acknowledged;
    this.#go(recorded ? 'acknowledging' : 'lost');
    return recorded;
  }

  /** Whether an earlier attempt at the event acknowledged its page (PagerDuty's timer is stopped). */
  get earlierAcknowledged(): boolean {
    return this.#earlier?.acknowledged === true;
  }

  /**
   * Writes the decision, `decided`; `superseded` when the event is, or is being, decided by another
   * node (its decision is the one kept: this attempt's lock is released).
   */
  async decide(decision: DecisionRecord, keepAtLeastMs: number, log: Logger): Promise<boolean> {
    this.#expect('decided');
    const taken = await this.deps.store.writeTaking(decision, keepAtLeastMs);
    if (taken.written) {
      // No attempt record was found with the decision: `finish` has none to clear.
      this.#noRecord = taken.attempt === undefined;
      this.#go('decided');
      return true;
    }
    this.#go('superseded');
    await this.releaseLock(log);
    return false;
  }

  /**
   * After its decision: the earlier attempt's lock, unless this decision goes on with it, is freed
   * (the host is not held for nobody; fenced by its token, a no-op if it is gone), and the attempt
   * record goes, answered for (the decision says what was taken). The lock the decision holds is
   * the workflow's from now on.
   */
  async finish(written: DecisionRecord, log: Logger): Promise<void> {
    const left = this.#earlier?.lock;
    if (left !== undefined && !carriesOn(written, left))
      await releaseQuietly(this.deps.locks.held(left), log);
    this.#lock = undefined;
    // The decision's write found no attempt record (none was ever written: nothing was taken):
    // nothing to clear, no round trip.
    if (!this.#noRecord) await this.clearQuietly(log);
  }

  /**
   * Nothing will act (the step failed): every lock taken is let go, this attempt's and the earlier
   * one's; what could not be released is kept to try again once Redis answers.
   */
  async letGo(log: Logger): Promise<Left> {
    const held = [this.#lock, this.#earlier?.lock].filter((l) => l !== undefined);
    this.#lock = undefined;
    for (const lock of held) await releaseQuietly(this.deps.locks.held(lock), log);
    const unsure = this.#unsure;
    this.#unsure = undefined;
    return {
      held: held.map(lockRef),
      ...(unsure === undefined ? {} : { unsure }),
    };
  }

  /**
   * Redis went away before the decision was written: the outbox keeps it (`parked`) and writes it
   * once Redis answers, with `writeParked`.
   */
  park(): void {
    this.#go('parked');
  }

  /**
   * Writes the parked decision; retrying a write whose reply was lost counts as written. Hands back
   * the attempt record found (what an attempt at the event had taken, for the writer to answer for).
   */
  async writeParked(
    decision: DecisionRecord,
  ): Promise<{ readonly written: boolean; readonly attempt?: Attempt }> {
    this.#expect('decided');
    const taken = await this.deps.store.writeTaking(decision, 0, { retry: true });
    this.#go(taken.written ? 'decided' : 'superseded');
    return taken;
  }

  /** Writes the set-aside decision (`unprocessable`); `false`: another node decided the event. */
  async decideSetAside(decision: DecisionRecord): Promise<boolean> {
    this.#expect('set_aside');
    const written = await this.deps.store.write(decision, 0);
    this.#go(written ? 'set_aside' : 'superseded');
    return written;
  }

  /** Set aside as a rejected record (the caller recorded it). */
  setAside(): void {
    this.#go('set_aside');
  }

  /** The attempt record goes (answered for). Quiet: it expires by its TTL otherwise. */
  async clearQuietly(log: Logger): Promise<void> {
    await this.deps.store.clearAttempt(this.eventId).catch((error: unknown) => {
      log.warn({ err: error }, 'the attempt record could not be cleared; it expires by its TTL');
    });
  }

  /** Whether this attempt recorded that it acknowledges (or took over an acknowledged) page. */
  get acknowledged(): boolean {
    return this.#acknowledged;
  }

  #expect(next: Phase): void {
    if (!TRANSITIONS[this.#phase].includes(next))
      throw CONTROLLER_ERRORS.create(
        'ATTEMPT_STATE',
        `event ${this.eventId}: an attempt in phase ${this.#phase} cannot become ${next}`,
      );
  }

  #go(next: Phase): void {
    this.#expect(next);
    this.#phase = next;
  }
}

/**
 * What a failed attempt leaves to release: the locks it knows it held, and one it asked for whose
 * answer was lost (Redis timed out), which it may hold under an unknown token.
 */
export interface Left {
  readonly held: readonly LockRef[];
  readonly unsure?: { readonly resource: string; readonly owner: string };
}

/**
 * Lets go of what a failed attempt left (see `Left`), each lock on its own (one that cannot be
 * released does not keep the others): the known ones by owner and token, the one of unknown token
 * by owner, so that the host is not held for nobody until the TTL. Quiet: what is not released
 * lapses by its TTL.
 */
export async function releaseLeft(locks: ResourceLocks, left: Left, log: Logger): Promise<void> {
  for (const lock of left.held) await releaseQuietly(locks.held(lock), log);
  const unsure = left.unsure;
  if (unsure === undefined) return;
  await locks.releaseOwned(unsure.resource, unsure.owner).catch((error: unknown) => {
    log.warn({ err: error, lock: unsure }, 'lock could not be released; it expires by its TTL');
  });
}

/** Releases a lock, or says that it lapses by its TTL. */
export async function releaseQuietly(lock: HeldLock, log: Logger): Promise<void> {
  try {
    await lock.release();
  } catch (error) {
    log.warn({ err: error, lock: lock.toJSON() }, 'lock could not be released; it expires by its TTL');
  }
}

/** Whether `written` goes on with the earlier attempt's lock (took it over, or re-entered it). */
function carriesOn(written: DecisionRecord, left: LockRef): boolean {
  const mine = written.lock?.acquired === true ? written.lock : undefined;
  return (
    mine !== undefined &&
    (mine.took_over_from === left.owner || (mine.owner === left.owner && mine.token === left.token))
  );
}
