/**
 * Decisions and rejected records in Redis, keyed by event id so that an event delivered twice
 * (Kinesis delivers at least once, a takeover re-reads from the checkpoint) is decided once.
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, runScript } from '../common/lua.js';
import type { ScriptSpec } from '../common/lua.js';
import type { DecisionRecord } from './decision.js';

const DECIDE: ScriptSpec = { module: 'controller', name: 'decide', keys: 3 };

/** Kept of a rejected record's raw bytes: enough to see what it was, not enough to fill Redis. */
export const REJECTED_RAW_CAP = 4096;
const REJECTED_KEEP = 10_000;
/** Long enough to outlast any retry of the batch. */
const REJECTED_MARKER_MS = 24 * 3_600_000;

export interface RejectedRecord {
  readonly shard: string;
  readonly sequence: string;
  readonly code: string;
  readonly message: string;
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  readonly size: number;
  /** The first bytes, base64. */
  readonly raw: string;
  readonly node: string;
  readonly at: string;
}

export class DecisionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly retentionMs = 0,
  ) {
    defineScripts(redis, [DECIDE]);
  }

  async get(eventId: string): Promise<DecisionRecord | undefined> {
    const text = await this.redis.get(this.keys.decision(eventId));
    return text === null ? undefined : (JSON.parse(text) as DecisionRecord);
  }

  /** Takes the right to decide the event for `ttlMs`; `false` when another node holds it. */
  async claim(eventId: string, node: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.claim(eventId), node, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async claimHolder(eventId: string): Promise<string | null> {
    return this.redis.get(this.keys.claim(eventId));
  }

  /** Writes the decision unless one exists; `false` means the event was already decided. */
  async write(record: DecisionRecord): Promise<boolean> {
    const written = await runScript(
      this.redis,
      DECIDE,
      [this.keys.decision(record.event_id), this.keys.decisions, this.keys.claim(record.event_id)],
      [JSON.stringify(record), record.event_id, Date.parse(record.decided_at), this.retentionMs],
    );
    return written === 1;
  }

  /**
   * Writes what was learnt after the decision into its record (late votes, the page's escalation);
   * the decision itself does not change. Does nothing when the record has expired.
   */
  async update(record: DecisionRecord): Promise<void> {
    await this.redis.set(this.keys.decision(record.event_id), JSON.stringify(record), 'KEEPTTL', 'XX');
  }

  /**
   * Records a record that is not an event; `false` when this one (shard, sequence) was recorded
   * before (a batch retried after a failure must not list it twice).
   */
  async reject(record: RejectedRecord): Promise<boolean> {
    const marker = this.keys.rejectedMarker(record.shard, record.sequence);
    if ((await this.redis.set(marker, '1', 'PX', REJECTED_MARKER_MS, 'NX')) !== 'OK') return false;
    await this.redis
      .multi()
      .lpush(this.keys.rejected, JSON.stringify(record))
      .ltrim(this.keys.rejected, 0, REJECTED_KEEP - 1)
      .exec();
    return true;
  }

  /**
   * Applies the retention: forgets the decisions older than `retentionMs` and those beyond the newest
   * `maxEvents`, with their audit entries (workflow runs expire by their own TTL once finished). Any
   * node may call it; it is idempotent.
   * Resolves with the number of events removed.
   */
  async trim(now: number, retentionMs: number, maxEvents: number, batch = 1000): Promise<number> {
    let removed = 0;
    for (;;) {
      const old =
        retentionMs > 0
          ? await this.redis.zrangebyscore(
              this.keys.decisions,
              '-inf',
              `(${now - retentionMs}`,
              'LIMIT',
              0,
              batch,
            )
          : [];
      const excess = Math.max(0, (await this.redis.zcard(this.keys.decisions)) - maxEvents);
      const over =
        old.length === 0 && excess > 0
          ? await this.redis.zrange(this.keys.decisions, 0, String(Math.min(excess, batch) - 1))
          : [];
      const ids = old.length > 0 ? old : over;
      if (ids.length === 0) return removed;
      const multi = this.redis.multi();
      for (const id of ids) {
        multi.del(this.keys.decision(id), this.keys.audit(id));
        multi.zrem(this.keys.decisions, id);
      }
      await multi.exec();
      removed += ids.length;
    }
  }

  async rejectedRecords(limit = 100): Promise<RejectedRecord[]> {
    return (await this.redis.lrange(this.keys.rejected, 0, limit - 1)).map(
      (t) => JSON.parse(t) as RejectedRecord,
    );
  }
}
