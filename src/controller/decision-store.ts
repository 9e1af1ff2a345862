/**
 * Decisions and rejected records in Redis, keyed by event id so that an event delivered twice
 * (Kinesis delivers at least once, a takeover re-reads from the checkpoint) is decided once.
 */
import type { RedisClient } from '../common/redis.js';
import { MAX_AUDIT_ENTRIES } from '../audit/log.js';
import type { AuditEntry } from '../audit/log.js';
import { rejectedId } from '../audit/summary.js';
import { viaRedis } from '../common/dependency.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, replies, runScript, script } from '../common/lua.js';
import type { DecisionRecord } from '../records/decision.js';
import {
  decodeWindowsReply,
  WINDOW_KEYS,
  windowsCall,
  windowsVerdict,
  type Windows,
  type WindowsOf,
  type WindowsReply,
} from '../safety/gate-windows.js';

/** `[1, attempt]` written (with the attempt record found, or ''), `[0]` refused. */
const DECIDE = script('controller', 'decide', ['decision', 'decisions', 'claim', 'attempt'], (reply) => {
  if (!Array.isArray(reply)) return undefined;
  const [written, found] = reply as unknown[];
  if (written === 0) return { written: false } as const;
  if (written === 1 && (found === undefined || typeof found === 'string'))
    return { written: true, found: found ?? '' } as const;
  return undefined;
});
const UPDATE = script('controller', 'decision-update', ['decision', 'audit'], replies.yesNo);
/** `[0]` decided, `[2, holder]` held by another, `[1, attempt]` claimed (attempt record or ''). */
function decodeClaim(reply: unknown, length = 2): Claim | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [status, detail] = reply as unknown[];
  if (status === 0 && reply.length === 1) return { status: 'decided' };
  if (status === 2 && typeof detail === 'string' && reply.length === 2)
    return { status: 'held', holder: detail };
  if (status !== 1 || typeof detail !== 'string' || reply.length !== length) return undefined;
  return detail === ''
    ? { status: 'claimed' }
    : { status: 'claimed', earlier: JSON.parse(detail) as Attempt };
}
const CLAIM = script('controller', 'claim', ['decision', 'claim', 'attempt'], (reply) => decodeClaim(reply));
/** The claim, and once it is won the gates' windows: `[1, attempt, windows]` (gate-windows.lua's reply). */
const CLAIM_COUNT = script(
  'controller',
  'claim-count',
  ['decision', 'claim', 'attempt', ...WINDOW_KEYS],
  (reply): { claim: Claim; windows?: WindowsReply } | undefined => {
    const claim = decodeClaim(reply, 3);
    if (claim === undefined) return undefined;
    if (claim.status !== 'claimed') return { claim };
    const windows = decodeWindowsReply((reply as unknown[])[2]);
    return windows === undefined ? undefined : { claim, windows };
  },
);
const ATTEMPT = script('controller', 'attempt', ['claim', 'decision', 'attempt'], replies.yesNo);
const REJECT = script('controller', 'reject', ['marker', 'rejected', 'times'], replies.yesNo);

/**
 * What an attempt at deciding an event has taken before its decision is written: the node that
 * takes the event over after that attempt died takes the lock over (or releases it) and answers
 * for the page the attempt acknowledged.
 */
export interface Attempt {
  readonly node: string;
  readonly lock?: { readonly resource: string; readonly owner: string; readonly token: number };
  /** The attempt acknowledged the event's page (as the controller's PagerDuty user). */
  readonly acknowledged?: boolean;
}

export type Claim =
  | { readonly status: 'decided' }
  | { readonly status: 'held'; readonly holder: string }
  | { readonly status: 'claimed'; readonly earlier?: Attempt };

/** Kept of a rejected record's raw bytes: enough to see what it was, not enough to fill Redis. */
export const REJECTED_RAW_CAP = 4096;
const REJECTED_KEEP = 10_000;
/** Long enough to outlast any retry of the batch. */
const REJECTED_MARKER_MS = 24 * 3_600_000;

import type { RejectedRecord } from '../records/rejected.js';

export type { RejectedRecord };

export class DecisionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly retentionMs = 0,
  ) {
    defineScripts(redis, [DECIDE, UPDATE, CLAIM, CLAIM_COUNT, ATTEMPT, REJECT]);
  }

  async get(eventId: string): Promise<DecisionRecord | undefined> {
    const text = await viaRedis('decision read', () => this.redis.get(this.keys.decision(eventId)));
    return text === null ? undefined : (JSON.parse(text) as DecisionRecord);
  }

  /**
   * Takes the right to decide the event for `ttlMs`, in one step with the check that it has no
   * decision yet; says who holds it otherwise, and what an earlier attempt that died had taken.
   */
  async claim(eventId: string, node: string, ttlMs: number): Promise<Claim>;
  /**
   * With `windows`: once the claim is won, the event is counted in the gates' windows in the same
   * round trip (safety/gate-windows.ts), and `counted` says what they found. Nothing is counted
   * when the claim is not won.
   */
  async claim(
    eventId: string,
    node: string,
    ttlMs: number,
    windows: WindowsOf | undefined,
  ): Promise<Claim & { readonly counted?: Windows }>;
  async claim(
    eventId: string,
    node: string,
    ttlMs: number,
    windows?: WindowsOf,
  ): Promise<Claim & { readonly counted?: Windows }> {
    const keys = {
      decision: this.keys.decision(eventId),
      claim: this.keys.claim(eventId),
      attempt: this.keys.attempt(eventId),
    };
    // Only the replies the script is written to give: anything else is an error, never "claimed".
    if (windows === undefined)
      return viaRedis('event claim', () => runScript(this.redis, CLAIM, keys, [node, ttlMs]));
    const call = windowsCall(this.keys, windows);
    const reply = await viaRedis('event claim', () =>
      runScript(this.redis, CLAIM_COUNT, { ...keys, ...call.keys }, [node, ttlMs, ...call.args]),
    );
    return reply.windows === undefined
      ? reply.claim
      : { ...reply.claim, counted: windowsVerdict(reply.windows, windows) };
  }

  /**
   * The keys that prove, inside a Lua script, that `node` may finish an earlier attempt's work on the
   * event: the event's claim holds `node`, and its decision does not exist.
   */
  claimProof(eventId: string, node: string): { claim: string; holder: string; unless: string } {
    return { claim: this.keys.claim(eventId), holder: node, unless: this.keys.decision(eventId) };
  }

  /**
   * Records what this attempt has taken (see `Attempt`), for as long as `ttlMs`, only while
   * `attempt.node` holds the event's claim and the event is undecided; `false` when refused (the
   * attempt lost its claim: it must not go on).
   */
  async recordAttempt(eventId: string, attempt: Attempt, ttlMs: number): Promise<boolean> {
    const text = JSON.stringify(attempt);
    return viaRedis('attempt record', () =>
      runScript(
        this.redis,
        ATTEMPT,
        {
          claim: this.keys.claim(eventId),
          decision: this.keys.decision(eventId),
          attempt: this.keys.attempt(eventId),
        },
        [attempt.node, text, ttlMs],
      ),
    );
  }

  async claimHolder(eventId: string): Promise<string | null> {
    return viaRedis('claim read', () => this.redis.get(this.keys.claim(eventId)));
  }

  /**
   * Writes the decision unless one exists or another node holds the event's claim (that node is
   * deciding it now: its decision is the one to keep). `false` means the event is, or is being,
   * decided by another node. The claimer is `record.coordinator.node`; an expired claim is no one's.
   */
  async write(record: DecisionRecord, keepAtLeastMs = 0): Promise<boolean> {
    return (await this.writeTaking(record, keepAtLeastMs)).written;
  }

  /**
   * `write`, also handing back the event's attempt record: what an attempt at the event (this one,
   * or an earlier one that died) had taken, for the writer to answer for (then `clearAttempt`).
   */
  async writeTaking(
    record: DecisionRecord,
    keepAtLeastMs = 0,
    options: {
      /**
       * Count a refused write as written when the stored record is this very one, byte for byte:
       * a retried write whose first reply was lost (a timeout) but that landed. For `writePending`.
       */
      readonly retry?: boolean;
    } = {},
  ): Promise<{ readonly written: boolean; readonly attempt?: Attempt }> {
    const text = JSON.stringify(record);
    const reply = await viaRedis('decision write', () =>
      runScript(
        this.redis,
        DECIDE,
        {
          decision: this.keys.decision(record.event_id),
          decisions: this.keys.decisions,
          claim: this.keys.claim(record.event_id),
          attempt: this.keys.attempt(record.event_id),
        },
        [
          text,
          record.event_id,
          Date.parse(record.decided_at),
          // 0 keeps for ever; otherwise never shorter than asked (an act outlives its workflow).
          this.retentionMs > 0 ? Math.max(this.retentionMs, keepAtLeastMs) : 0,
          record.coordinator.node,
        ],
      ),
    );
    let attempt = reply.written ? reply.found : undefined;
    if (!reply.written) {
      const landed =
        options.retry === true &&
        (await viaRedis('decision read', () => this.redis.get(this.keys.decision(record.event_id)))) === text;
      if (!landed) return { written: false };
      attempt =
        (await viaRedis('attempt read', () => this.redis.get(this.keys.attempt(record.event_id)))) ?? '';
    }
    return attempt === undefined || attempt === ''
      ? { written: true }
      : { written: true, attempt: JSON.parse(attempt) as Attempt };
  }

  /** Done with the event's attempt record (its writer has answered for it). */
  async clearAttempt(eventId: string): Promise<void> {
    await viaRedis('attempt clear', () => this.redis.del(this.keys.attempt(eventId)));
  }

  /**
   * Writes what was learnt after the decision into its record (late votes, the page's escalation),
   * keeping its TTL, but only when the stored record is this same decision (same `decided_at` and
   * coordinator): a record made up while Redis was away (`dependency_down`) for an event that was in
   * fact decided must never overwrite the real decision. `false` when nothing was written: the record
   * has expired, or it is another decision. `entries` go to the event's audit trail in the same round
   * trip, whether or not the record was written (they happened).
   */
  async update(record: DecisionRecord, entries: readonly AuditEntry[] = []): Promise<boolean> {
    const text = JSON.stringify(record);
    return viaRedis('decision update', () =>
      runScript(
        this.redis,
        UPDATE,
        { decision: this.keys.decision(record.event_id), audit: this.keys.audit(record.event_id) },
        [
          text,
          record.decided_at,
          record.coordinator.node,
          MAX_AUDIT_ENTRIES,
          this.retentionMs,
          ...entries.map((e) => JSON.stringify(e)),
        ],
      ),
    );
  }

  /**
   * Records a record that is not an event; `false` when this one (shard, sequence, and sub-sequence
   * for a user record of a KPL aggregate) was recorded before (a batch retried after a failure must
   * not list it twice).
   */
  async reject(record: RejectedRecord): Promise<boolean> {
    const text = JSON.stringify(record);
    return viaRedis('rejected record', () =>
      runScript(
        this.redis,
        REJECT,
        {
          // One marker per user record of a KPL aggregate and per item of a sensor's payload.
          marker: this.keys.rejectedMarker(record.shard, record.sequence, record.sub_sequence, record.item),
          rejected: this.keys.rejected,
          times: this.keys.rejectedTimes,
        },
        [text, REJECTED_MARKER_MS, REJECTED_KEEP, rejectedId(record), Date.parse(record.at) || Date.now()],
      ),
    );
  }

  /**
   * Applies the retention: forgets the decisions older than `retentionMs` (0: no limit by age) and
   * those beyond the newest `maxEvents`, with their audit entries (workflow runs expire by their own
   * TTL once finished). Any node may call it; it is idempotent.
   *
   * A decision is what makes a redelivered event `already decided`; forgetting it too soon lets the
   * event be decided, and acted on, twice. So two kinds of decision are never removed:
   * - those newer than `now - protectMs`, whatever `maxEvents` says (`protectMs` is the minimum
   *   retention, `max_event_age + clock_skew_tolerance + dedup_window`: an event redelivered later
   *   than that is stale anyway); the age limit is never shorter than `protectMs` either;
   * - those of an event whose workflow run is still active (`run-<event id>` in the active runs).
   * Those kept still count against `maxEvents`: the next oldest go in their place.
   * Resolves with the number of events removed.
   */
  async trim(
    now: number,
    retentionMs: number,
    maxEvents: number,
    protectMs: number,
    batch = 1000,
  ): Promise<number> {
    const protectedFrom = now - Math.max(0, protectMs);
    const ageLimit = retentionMs > 0 ? now - Math.max(retentionMs, protectMs) : -Infinity;
    // Kept decisions stay at the head of the index; the scan goes on past them.
    let kept = 0;
    let removed = 0;
    for (;;) {
      // Counted afresh for each batch: another node may be trimming at the same time.
      let excess = Math.max(0, (await this.redis.zcard(this.keys.decisions)) - maxEvents);
      const page = await this.redis.zrange(
        this.keys.decisions,
        String(kept),
        String(kept + batch - 1),
        'WITHSCORES',
      );
      const candidates: string[] = [];
      // Past the last page, or past the protected ones (the index is in time order: nothing after
      // them is too old or unprotected either): nothing more to look at.
      let last = page.length < 2 * batch;
      let countMet = false;
      for (let i = 0; i + 1 < page.length; i += 2) {
        const score = Number(page[i + 1]);
        const tooOld = score < ageLimit;
        const unprotected = score < protectedFrom;
        if (!tooOld && !(unprotected && excess > candidates.length)) {
          if (unprotected) countMet = true;
          else last = true;
          break;
        }
        candidates.push(page[i] ?? '');
      }
      const ids = await this.withoutActiveRuns(candidates);
      kept += candidates.length - ids.length;
      if (ids.length > 0) {
        const multi = this.redis.multi();
        for (const id of ids) {
          multi.del(this.keys.decision(id), this.keys.audit(id), this.keys.attempt(id));
          multi.zrem(this.keys.decisions, id);
        }
        const replies = (await multi.exec()) ?? [];
        // Only what this trim took out of the index (not what another node's trim had already).
        const gone = replies.filter((r, i) => i % 2 === 1 && r[1] === 1).length;
        removed += gone;
        excess = Math.max(0, excess - gone);
      }
      // The count was met counting the candidates; if some were kept, the next oldest go instead.
      const done = last || (countMet && excess === 0);
      if (done) return removed;
    }
  }

  /** The event ids whose workflow run is not active (never started, or finished). */
  private async withoutActiveRuns(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const scores = await this.redis.zmscore(this.keys.activeRuns, ...ids.map((id) => `run-${id}`));
    return ids.filter((_, i) => scores[i] === null || scores[i] === undefined);
  }

  async rejectedRecords(limit = 100): Promise<RejectedRecord[]> {
    return (await this.redis.lrange(this.keys.rejected, 0, limit - 1)).map(
      (t) => JSON.parse(t) as RejectedRecord,
    );
  }
}
